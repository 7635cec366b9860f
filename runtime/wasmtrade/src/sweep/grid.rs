//! The search space of a sweep: `--grid` parameters, `--constraint`s between
//! them, and a seeded random sample of the grid.
//!
//! Grammar (one `--grid` flag or several, entries separated by commas):
//! - `name=START..END` or `name=START..END:STEP` — an inclusive range; all
//!   integers give integers, otherwise decimals rounded to the step's places;
//! - `name=a|b|c` — a list (each value typed like `--config`: integer,
//!   decimal, `true`/`false` or text);
//! - `name=v` — one fixed value.
//!
//! `name` may be dotted (`exit.stop=…`) to reach a nested config key.

use anyhow::{Context, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::Value;

use crate::guest_config;

/// The most combinations a grid may have before constraints (a typo such as
/// `1..1000000` should fail at once, not fill memory).
pub const MAX_COMBINATIONS: u64 = 1_000_000;

/// One swept config key and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Config key (dotted for nested keys).
    pub name: String,
    /// Values in grid order.
    pub values: Vec<Value>,
}

/// The grid: parameters in the order they were given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grid {
    /// Parameters.
    pub params: Vec<Param>,
}

/// One point of the grid: a value per parameter, in [`Grid::params`] order.
pub type Combo = Vec<Value>;

impl Grid {
    /// Parses one or more `--grid` specs.
    pub fn parse(specs: &[String]) -> anyhow::Result<Grid> {
        let mut grid = Grid::default();
        for spec in specs {
            for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let param = parse_param(entry).with_context(|| format!("--grid entry `{entry}`"))?;
                if grid.params.iter().any(|p| p.name == param.name) {
                    bail!("--grid names `{}` twice; give each key once", param.name);
                }
                grid.params.push(param);
            }
        }
        if grid.params.is_empty() {
            bail!("--grid is empty; give at least one key, e.g. --grid fast=5..50:5,slow=20..200:10");
        }
        let total = grid.size();
        if total > MAX_COMBINATIONS {
            bail!(
                "--grid has {total} combinations, more than {MAX_COMBINATIONS}; use coarser steps or --random N"
            );
        }
        Ok(grid)
    }

    /// Combinations before constraints (saturating).
    pub fn size(&self) -> u64 {
        self.params
            .iter()
            .fold(1u64, |n, p| n.saturating_mul(p.values.len() as u64))
    }

    /// The position of parameter `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }

    /// Every combination that satisfies all `constraints`, in grid order
    /// (the last parameter varies fastest).
    pub fn combos(&self, constraints: &[Constraint]) -> Vec<Combo> {
        let mut out = Vec::new();
        let mut idx = vec![0usize; self.params.len()];
        loop {
            let combo: Combo = idx
                .iter()
                .zip(&self.params)
                .map(|(&i, p)| p.values[i].clone())
                .collect();
            if constraints.iter().all(|c| c.holds(&combo)) {
                out.push(combo);
            }
            // Odometer increment, last parameter fastest.
            let mut k = self.params.len();
            loop {
                if k == 0 {
                    return out;
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < self.params[k].values.len() {
                    break;
                }
                idx[k] = 0;
            }
        }
    }
}

/// A value as the user wrote it (strings without quotes).
pub fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A seeded random sample of `n` combinations, kept in grid order so the
/// same seed always gives the same runs and the same report.
pub fn sample(mut combos: Vec<Combo>, n: usize, seed: u64) -> Vec<Combo> {
    if n >= combos.len() {
        return combos;
    }
    let mut order: Vec<usize> = (0..combos.len()).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    order.partial_shuffle(&mut rng, n);
    let mut chosen: Vec<usize> = order[..n].to_vec();
    chosen.sort_unstable();
    let mut keep = vec![false; combos.len()];
    for i in chosen {
        keep[i] = true;
    }
    let mut i = 0;
    combos.retain(|_| {
        let k = keep[i];
        i += 1;
        k
    });
    combos
}

fn parse_param(entry: &str) -> anyhow::Result<Param> {
    let Some((name, values)) = entry.split_once('=') else {
        bail!("not `key=values` (e.g. fast=5..50:5 or mode=a|b)");
    };
    let name = name.trim();
    if name.is_empty() || name.split('.').any(str::is_empty) {
        bail!("the key is empty");
    }
    let values = values.trim();
    if values.is_empty() {
        bail!("no values after `{name}=`");
    }
    let values = if let Some((start, rest)) = values.split_once("..") {
        let (end, step) = match rest.split_once(':') {
            Some((e, s)) => (e, Some(s)),
            None => (rest, None),
        };
        range(start.trim(), end.trim(), step.map(str::trim))?
    } else {
        values
            .split('|')
            .map(|v| guest_config::typed_value(v.trim()))
            .collect()
    };
    Ok(Param {
        name: name.to_string(),
        values,
    })
}

/// Values per range at most (`0..1e9` is a mistake, not a search).
const MAX_RANGE_VALUES: u64 = 100_000;

fn range(start: &str, end: &str, step: Option<&str>) -> anyhow::Result<Vec<Value>> {
    if let (Ok(a), Ok(b), Ok(s)) = (
        start.parse::<i64>(),
        end.parse::<i64>(),
        step.map_or(Ok(1), str::parse::<i64>),
    ) {
        check_bounds(a as f64, b as f64, s as f64)?;
        let n = ((b - a) / s) as u64 + 1;
        if n > MAX_RANGE_VALUES {
            bail!("the range has {n} values, more than {MAX_RANGE_VALUES}; use a larger step");
        }
        return Ok((0..n as i64).map(|i| Value::from(a + i * s)).collect());
    }
    let num = |what: &str, t: &str| -> anyhow::Result<f64> {
        t.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .with_context(|| format!("the range's {what} `{t}` is not a number"))
    };
    let (a, b) = (num("start", start)?, num("end", end)?);
    let s = match step {
        Some(t) => num("step", t)?,
        None => 1.0,
    };
    check_bounds(a, b, s)?;
    let places = [start, end, step.unwrap_or("1")]
        .iter()
        .map(|t| t.split_once('.').map_or(0, |(_, f)| f.len()))
        .max()
        .unwrap_or(0)
        .min(12) as i32;
    let scale = 10f64.powi(places);
    // A tolerance of half a unit in the last place keeps `0.1..0.3:0.1` at
    // three values despite binary rounding.
    let n = ((b - a) / s + 0.5 / scale / s).floor() as u64 + 1;
    if n > MAX_RANGE_VALUES {
        bail!("the range has {n} values, more than {MAX_RANGE_VALUES}; use a larger step");
    }
    Ok((0..n)
        .map(|i| Value::from(((a + i as f64 * s) * scale).round() / scale))
        .collect())
}

fn check_bounds(a: f64, b: f64, s: f64) -> anyhow::Result<()> {
    if s <= 0.0 {
        bail!("the step must be positive, got {s}");
    }
    if a > b {
        bail!("the range starts at {a}, after its end {b}");
    }
    Ok(())
}

/// A comparison between two parameters, or a parameter and a number, that
/// every swept combination must satisfy (`fast<slow`, `stop<=0.05`).
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    text: String,
    lhs: Operand,
    op: Op,
    rhs: Operand,
}

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    Param(usize),
    Number(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    /// Two-character operators first so `<=` is not read as `<`.
    const ALL: [(&'static str, Op); 6] = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
}

impl Constraint {
    /// Parses `--constraint` specs against `grid` (several may be given in
    /// one flag, separated by commas).
    pub fn parse_all(specs: &[String], grid: &Grid) -> anyhow::Result<Vec<Constraint>> {
        specs
            .iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Constraint::parse(s, grid).with_context(|| format!("--constraint `{s}`")))
            .collect()
    }

    fn parse(text: &str, grid: &Grid) -> anyhow::Result<Constraint> {
        let Some((at, sym, op)) = Op::ALL
            .iter()
            .filter_map(|(sym, op)| text.find(sym).map(|at| (at, *sym, *op)))
            .min_by_key(|(at, sym, _)| (*at, std::cmp::Reverse(sym.len())))
        else {
            bail!("has no comparison; write e.g. fast<slow (one of < <= > >= == !=)");
        };
        let (lhs, rhs) = (text[..at].trim(), text[at + sym.len()..].trim());
        let operand = |t: &str| -> anyhow::Result<Operand> {
            if let Some(i) = grid.index_of(t) {
                return Ok(Operand::Param(i));
            }
            if let Ok(v) = t.parse::<f64>()
                && v.is_finite()
            {
                return Ok(Operand::Number(v));
            }
            let names: Vec<&str> = grid.params.iter().map(|p| p.name.as_str()).collect();
            bail!(
                "`{t}` is neither a --grid key ({}) nor a number",
                names.join(", ")
            )
        };
        let (lhs, rhs) = (operand(lhs)?, operand(rhs)?);
        for side in [&lhs, &rhs] {
            if let Operand::Param(i) = side
                && grid.params[*i].values.iter().any(|v| v.as_f64().is_none())
            {
                bail!(
                    "`{}` has values that are not numbers; constraints compare numbers",
                    grid.params[*i].name
                );
            }
        }
        Ok(Constraint {
            text: text.to_string(),
            lhs,
            op,
            rhs,
        })
    }

    /// Whether `combo` satisfies the constraint.
    pub fn holds(&self, combo: &Combo) -> bool {
        let value = |o: &Operand| match o {
            Operand::Param(i) => combo[*i].as_f64().unwrap_or(f64::NAN),
            Operand::Number(v) => *v,
        };
        let (a, b) = (value(&self.lhs), value(&self.rhs));
        match self.op {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }

    /// The constraint as given.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(s: &str) -> Grid {
        Grid::parse(&[s.to_string()]).unwrap()
    }

    fn err(s: &str) -> String {
        format!("{:#}", Grid::parse(&[s.to_string()]).unwrap_err())
    }

    #[test]
    fn integer_ranges_are_inclusive_with_steps() {
        let g = grid("fast=5..50:5,slow=20..200:10");
        assert_eq!(g.params[0].values.len(), 10);
        assert_eq!(g.params[0].values[9], Value::from(50));
        assert_eq!(g.params[1].values.len(), 19);
        assert_eq!(g.size(), 190);
        assert_eq!(
            grid("n=1..3").params[0].values,
            vec![Value::from(1), Value::from(2), Value::from(3)]
        );
    }

    #[test]
    fn decimal_ranges_round_to_the_steps_places() {
        let g = grid("stop=0.1..0.3:0.1");
        assert_eq!(
            g.params[0].values,
            vec![Value::from(0.1), Value::from(0.2), Value::from(0.3)]
        );
    }

    #[test]
    fn lists_and_single_values_are_typed_like_config() {
        let g = grid("mode=fast|slow,on=true,k=2|2.5");
        assert_eq!(g.params[0].values, vec![Value::from("fast"), Value::from("slow")]);
        assert_eq!(g.params[1].values, vec![Value::Bool(true)]);
        assert_eq!(g.params[2].values, vec![Value::from(2), Value::from(2.5)]);
    }

    #[test]
    fn bad_grids_say_what_is_wrong() {
        assert!(err("fast").contains("not `key=values`"));
        assert!(err("fast=10..5").contains("after its end"));
        assert!(err("fast=1..10:0").contains("step must be positive"));
        assert!(err("fast=a..b").contains("`a` is not a number"));
        assert!(err("fast=1..2,fast=3").contains("twice"));
        assert!(err("fast=1..1000000000").contains("larger step"));
        assert!(err("a=1..1000,b=1..1000,c=1..10").contains("more than 1000000"));
        assert!(err("").contains("empty"));
    }

    #[test]
    fn constraints_filter_combinations() {
        let g = grid("fast=2..10:2,slow=4..10:2");
        let c = Constraint::parse_all(&["fast<slow".into()], &g).unwrap();
        let combos = g.combos(&c);
        assert!(combos.iter().all(|c| c[0].as_i64() < c[1].as_i64()));
        assert_eq!(combos.len(), 4 + 3 + 2 + 1);
        let le = Constraint::parse_all(&["fast<=4, slow!=8".into()], &g).unwrap();
        for c in g.combos(&le) {
            assert!(c[0].as_i64().unwrap() <= 4 && c[1].as_i64().unwrap() != 8);
        }
    }

    #[test]
    fn bad_constraints_name_the_unknown_key() {
        let g = grid("fast=1..3,mode=a|b");
        let e = format!(
            "{:#}",
            Constraint::parse_all(&["fast<slw".into()], &g).unwrap_err()
        );
        assert!(e.contains("`slw` is neither a --grid key (fast, mode)"), "{e}");
        let e = format!("{:#}", Constraint::parse_all(&["fast".into()], &g).unwrap_err());
        assert!(e.contains("no comparison"), "{e}");
        let e = format!("{:#}", Constraint::parse_all(&["mode<2".into()], &g).unwrap_err());
        assert!(e.contains("not numbers"), "{e}");
    }

    #[test]
    fn samples_are_seeded_and_keep_grid_order() {
        let g = grid("a=1..20,b=1..20");
        let all = g.combos(&[]);
        let s1 = sample(all.clone(), 25, 7);
        let s2 = sample(all.clone(), 25, 7);
        let s3 = sample(all.clone(), 25, 8);
        assert_eq!(s1.len(), 25);
        assert_eq!(s1, s2);
        assert_ne!(s1, s3);
        let pos: Vec<usize> = s1
            .iter()
            .map(|c| all.iter().position(|x| x == c).unwrap())
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample(all.clone(), 1000, 1).len(), all.len());
    }
}
