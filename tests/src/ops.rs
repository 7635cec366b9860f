//! Reading `serve`'s ops endpoints from a test: the address it printed, a
//! plain HTTP/1.0 `GET`, and one series out of a `/metrics` scrape.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::Serve;

/// The ops address `serve` printed (`ops endpoints on http://ADDR ...`).
pub fn ops_addr(serve: &Serve) -> String {
    let stderr = serve.stderr();
    stderr
        .lines()
        .find_map(|l| l.split("ops endpoints on http://").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("serve printed no ops address; stderr:\n{stderr}"))
        .to_string()
}

/// `GET path` over HTTP/1.0: the status code and the body.
pub fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let code = raw.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// `GET path`, which must answer 200; the body.
pub fn get_ok(addr: &str, path: &str) -> String {
    let (code, body) = get(addr, path).unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"));
    assert_eq!(code, 200, "GET {path}: {body}");
    body
}

/// The value of `series` (name and labels as rendered) in a scrape.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
