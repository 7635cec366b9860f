//! `wasmtrade strategy upload`: hash the component, stream it in 64 KiB
//! chunks behind a header, and optionally activate the new version.

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt as _;
use wasmtrade_proto::v1::upload_chunk::Chunk;
use wasmtrade_proto::v1::{ActivateRequest, GuestKind, UploadChunk, UploadHeader};

use super::args::{KindArg, UploadArgs};
use super::connect::Connection;
use super::{json, output};
use crate::guest_config;
use crate::table::two_columns;

/// Bytes per data message of an upload stream.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// Uploads, prints the new version and (with `--activate`) activates it.
pub async fn run(args: UploadArgs) -> anyhow::Result<()> {
    let path = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read the component {path}"))?;
    if bytes.is_empty() {
        bail!("the component {path} is empty");
    }
    // No --config: send none, so the new version starts with the module's
    // active configuration.
    let config_json = if args.config.config.trim().is_empty() && args.config.config_file.is_none() {
        String::new()
    } else {
        guest_config::build(&args.config.config, args.config.config_file.as_deref())?
    };
    let header = UploadHeader {
        name: args.name.clone(),
        kind: match args.kind {
            KindArg::Strategy => GuestKind::Strategy,
            KindArg::Indicator => GuestKind::Indicator,
        } as i32,
        label: args.label.clone(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as u64,
        config_json,
    };

    let conn = Connection::open(&args.client).await?;
    // Compiling takes longer than other calls: the upload gets its own deadline.
    let upload_conn = conn
        .clone()
        .with_timeout(Duration::from_secs(args.upload_timeout.max(args.client.timeout)));
    let mut strategies = conn.strategies();
    let progress = progress_bar(header.size);
    let bar = progress.clone();
    let stream = tokio_stream::iter(chunks(header, bytes)).map(move |chunk| {
        if let (Some(bar), Some(Chunk::Data(data))) = (&bar, &chunk.chunk) {
            bar.inc(data.len() as u64);
        }
        chunk
    });
    let uploaded = upload_conn
        .unary(
            "StrategyService/Upload",
            strategies.upload(upload_conn.request(stream)),
        )
        .await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let uploaded = uploaded.with_context(|| format!("upload of {path} as `{}` failed", args.name))?;

    let activated = if args.activate {
        let request = ActivateRequest {
            name: uploaded.name.clone(),
            version: uploaded.version,
            // The version's own, given (or inherited) at upload.
            config_json: None,
        };
        let r = conn
            .unary(
                "StrategyService/Activate",
                strategies.activate(conn.request(request)),
            )
            .await;
        Some(r.with_context(|| {
            format!(
                "{} v{} was uploaded but not activated",
                uploaded.name, uploaded.version
            )
        })?)
    } else {
        None
    };

    if args.client.json {
        json::print_document(&serde_json::json!({
            "upload": json::upload(&uploaded),
            "activation": activated.as_ref().map(json::activation),
        }))?;
        return Ok(());
    }
    let created = if uploaded.created {
        "yes".to_string()
    } else {
        format!("no: these bytes already were v{}", uploaded.version)
    };
    output::print(&two_columns(&[
        ("module", uploaded.name.clone()),
        ("version", uploaded.version.to_string()),
        ("sha256", uploaded.sha256.clone()),
        ("size", format!("{} bytes", uploaded.size)),
        ("created", created),
        ("compile", output::duration_ns(uploaded.compile_ns)),
    ]))?;
    if let Some(r) = &activated {
        output::print(&output::activation(r))?;
    }
    Ok(())
}

/// The upload stream: the header, then the bytes in [`CHUNK_SIZE`] pieces.
fn chunks(header: UploadHeader, bytes: Vec<u8>) -> Vec<UploadChunk> {
    let data = bytes.chunks(CHUNK_SIZE).map(|c| UploadChunk {
        chunk: Some(Chunk::Data(c.to_vec())),
    });
    std::iter::once(UploadChunk {
        chunk: Some(Chunk::Header(header)),
    })
    .chain(data)
    .collect()
}

/// A byte progress bar on stderr, only when stderr is a terminal.
fn progress_bar(total: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("uploading {bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_comes_first_then_64_kib_chunks_in_order() {
        let bytes: Vec<u8> = (0..(2 * CHUNK_SIZE + 10)).map(|i| (i % 251) as u8).collect();
        let header = UploadHeader {
            name: "x".into(),
            ..Default::default()
        };
        let chunks = chunks(header, bytes.clone());
        assert!(matches!(&chunks[0].chunk, Some(Chunk::Header(h)) if h.name == "x"));
        let data: Vec<&[u8]> = chunks[1..]
            .iter()
            .map(|c| match &c.chunk {
                Some(Chunk::Data(d)) => d.as_slice(),
                other => panic!("expected data, got {other:?}"),
            })
            .collect();
        assert_eq!(
            data.iter().map(|d| d.len()).collect::<Vec<_>>(),
            [CHUNK_SIZE, CHUNK_SIZE, 10]
        );
        assert_eq!(data.concat(), bytes);
    }
}
