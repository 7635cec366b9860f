//! ONNX actor-critic inference with tract: load and check a model, then run
//! one observation window through it.
//!
//! Plain Rust with no wasm in sight, so the same code runs natively (unit
//! tests, the native side of `tests/benches/policy.rs`) and inside the guest.

use std::fmt;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

/// Why a model was refused or a run failed. The messages name the input and
/// what is expected; the guest returns them to the host as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InferenceError {
    /// The bytes are not an ONNX model tract can read.
    NotOnnx {
        /// tract's reason, one line.
        reason: String,
    },
    /// The model has not exactly one input.
    Inputs {
        /// How many it has.
        count: usize,
    },
    /// The model's declared input does not fit the observation window.
    InputShape {
        /// What the model declares (`?` for an open dimension).
        declared: String,
        /// What the observations are: `[1, window, features]`.
        expected: [usize; 3],
    },
    /// The model's outputs are not `probabilities [1, actions]`, `value [1, 1]`.
    Outputs {
        /// What is wrong.
        reason: String,
    },
    /// tract could not optimise or plan the model.
    Plan {
        /// tract's reason.
        reason: String,
    },
    /// An observation of the wrong length.
    Observation {
        /// Values given.
        got: usize,
        /// Values expected (`window * features`).
        expected: usize,
    },
    /// The run failed or gave non-finite numbers.
    Run {
        /// What happened.
        reason: String,
    },
}

impl fmt::Display for InferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotOnnx { reason } => write!(f, "model is not a readable ONNX model: {reason}"),
            Self::Inputs { count } => write!(
                f,
                "model has {count} inputs; a policy model takes exactly one (the observation window)"
            ),
            Self::InputShape { declared, expected } => write!(
                f,
                "model input shape {declared} does not match the observation window {expected:?} \
                 ([batch, window, features]): export the model for this window or configure the \
                 policy's `window`/`features` to match"
            ),
            Self::Outputs { reason } => write!(
                f,
                "model outputs must be `probabilities` [1, actions] then `value` [1, 1]: {reason}"
            ),
            Self::Plan { reason } => write!(f, "cannot prepare the model for inference: {reason}"),
            Self::Observation { got, expected } => write!(
                f,
                "observation has {got} values, the model takes {expected} (window x features)"
            ),
            Self::Run { reason } => write!(f, "inference failed: {reason}"),
        }
    }
}

impl std::error::Error for InferenceError {}

/// What one inference gives.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// Action probabilities (the policy head, after softmax).
    pub probabilities: Vec<f32>,
    /// The value head's estimate.
    pub value: f32,
}

/// A loaded, optimised model with a reusable execution state.
pub struct Model {
    state: TypedSimpleState,
    window: usize,
    features: usize,
    actions: usize,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("window", &self.window)
            .field("features", &self.features)
            .field("actions", &self.actions)
            .finish_non_exhaustive()
    }
}

fn one_line(e: &impl fmt::Display) -> String {
    // tract's errors are anyhow chains; `{:#}` puts the causes on one line.
    format!("{e:#}").replace('\n', " ")
}

fn declared_dims(fact: &InferenceFact) -> Vec<Option<i64>> {
    fact.shape
        .dims()
        .map(|d| d.concretize().and_then(|d| d.to_i64().ok()))
        .collect()
}

fn show(dims: &[Option<i64>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or_else(|| "?".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

impl Model {
    /// Reads an ONNX model for observations of `window` rows by `features`
    /// columns, checks its input and outputs, and optimises it.
    pub fn load(bytes: &[u8], window: usize, features: usize) -> Result<Self, InferenceError> {
        let mut reader = bytes;
        let model = tract_onnx::onnx()
            .model_for_read(&mut reader)
            .map_err(|e| InferenceError::NotOnnx { reason: one_line(&e) })?;
        let inputs = model.input_outlets().map(<[_]>::len).unwrap_or(0);
        if inputs != 1 {
            return Err(InferenceError::Inputs { count: inputs });
        }
        let expected = [1, window, features];
        let declared = model
            .input_fact(0)
            .map(declared_dims)
            .map_err(|e| InferenceError::NotOnnx { reason: one_line(&e) })?;
        let fits = declared.len() == 3
            && declared
                .iter()
                .zip(expected)
                .all(|(d, e)| d.is_none_or(|d| usize::try_from(d).ok() == Some(e)));
        // An unranked input (no declared shape at all) is accepted and pinned.
        if !(fits || declared.is_empty() && model.input_fact(0).is_ok_and(|f| f.shape.is_open())) {
            return Err(InferenceError::InputShape {
                declared: show(&declared),
                expected,
            });
        }
        let typed = model
            .with_input_fact(0, f32::fact(expected).into())
            .and_then(|m| m.into_optimized())
            .map_err(|e| InferenceError::Plan { reason: one_line(&e) })?;
        let actions = check_outputs(&typed)?;
        let plan = typed
            .into_runnable()
            .map_err(|e| InferenceError::Plan { reason: one_line(&e) })?;
        let state =
            TypedSimpleState::new(&plan).map_err(|e| InferenceError::Plan { reason: one_line(&e) })?;
        Ok(Self {
            state,
            window,
            features,
            actions,
        })
    }

    /// Rows of the observation window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Features per row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Number of actions of the policy head.
    pub fn actions(&self) -> usize {
        self.actions
    }

    /// Runs one observation (`window * features` values, row-major).
    pub fn run(&mut self, observation: &[f32]) -> Result<Output, InferenceError> {
        let expected = self.window * self.features;
        if observation.len() != expected {
            return Err(InferenceError::Observation {
                got: observation.len(),
                expected,
            });
        }
        let run_err = |e: TractError| InferenceError::Run { reason: one_line(&e) };
        let input =
            Tensor::from_shape::<f32>(&[1, self.window, self.features], observation).map_err(run_err)?;
        let outputs = self.state.run(tvec!(input.into())).map_err(run_err)?;
        let probabilities = outputs
            .first()
            .ok_or_else(|| InferenceError::Run {
                reason: "no probabilities output".into(),
            })?
            .to_plain_array_view::<f32>()
            .map_err(run_err)?
            .iter()
            .copied()
            .collect::<Vec<f32>>();
        let value = outputs
            .get(1)
            .ok_or_else(|| InferenceError::Run {
                reason: "no value output".into(),
            })?
            .to_plain_array_view::<f32>()
            .map_err(run_err)?
            .iter()
            .next()
            .copied()
            .unwrap_or(f32::NAN);
        if !value.is_finite() || probabilities.iter().any(|p| !p.is_finite()) {
            return Err(InferenceError::Run {
                reason: "the model produced NaN or infinite outputs".into(),
            });
        }
        Ok(Output { probabilities, value })
    }
}

/// Checks the optimised model's outputs; returns the number of actions.
fn check_outputs(model: &TypedModel) -> Result<usize, InferenceError> {
    let bad = |reason: String| InferenceError::Outputs { reason };
    let outlets = model.output_outlets().map_err(|e| bad(one_line(&e)))?;
    if outlets.len() != 2 {
        return Err(bad(format!("it has {} outputs", outlets.len())));
    }
    let shape = |i: usize| -> Result<Vec<usize>, InferenceError> {
        let fact = model.outlet_fact(outlets[i]).map_err(|e| bad(one_line(&e)))?;
        if fact.datum_type != f32::datum_type() {
            return Err(bad(format!("output {i} is {:?}, not f32", fact.datum_type)));
        }
        fact.shape
            .as_concrete()
            .map(<[usize]>::to_vec)
            .ok_or_else(|| bad(format!("output {i} has a symbolic shape {:?}", fact.shape)))
    };
    let probs = shape(0)?;
    let value = shape(1)?;
    match (probs.as_slice(), value.as_slice()) {
        ([1, actions], [1, 1]) if *actions > 0 => Ok(*actions),
        _ => Err(bad(format!("they are {probs:?} and {value:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bytes_that_are_not_onnx_with_a_clear_message() {
        let err = Model::load(b"certainly not a protobuf \xff\xff\xff", 32, 6).unwrap_err();
        assert!(matches!(err, InferenceError::NotOnnx { .. }), "{err}");
        assert!(
            err.to_string().starts_with("model is not a readable ONNX model"),
            "{err}"
        );
    }

    #[test]
    fn input_shape_error_names_both_shapes() {
        let err = InferenceError::InputShape {
            declared: show(&[Some(1), Some(32), Some(7)]),
            expected: [1, 32, 6],
        };
        assert!(
            err.to_string()
                .starts_with("model input shape [1, 32, 7] does not match the observation window [1, 32, 6]")
        );
    }
}
