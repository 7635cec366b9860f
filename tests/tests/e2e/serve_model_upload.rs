//! Policy models streamed to `wasmtrade serve` in chunks with their sha256
//! (`ModelService/UploadModelStream`), the way a client written from the
//! proto sends them: the first version of a model can come before any
//! exists, the bytes are checked end to end, and a bad stream stores
//! nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use tonic_types::StatusExt;
use wasmtrade_proto::v1::model_chunk::Chunk as ModelPart;
use wasmtrade_proto::v1::model_service_client::ModelServiceClient;
use wasmtrade_proto::v1::{ListModelsRequest, ModelChunk, ModelUploadHeader};

use crate::common;

use common::*;

type Models = ModelServiceClient<InterceptedService<Channel, Auth>>;

fn models(s: &Server) -> Models {
    ModelServiceClient::with_interceptor(s.channel.clone(), Auth::bearer(&s.serve.token))
}

/// A header and the bytes in chunks of `chunk` bytes.
fn stream(header: ModelUploadHeader, bytes: &[u8], chunk: usize) -> Vec<ModelChunk> {
    std::iter::once(ModelPart::Header(header))
        .chain(bytes.chunks(chunk).map(|c| ModelPart::Data(c.to_vec())))
        .map(|c| ModelChunk { chunk: Some(c) })
        .collect()
}

fn header(name: &str, bytes: &[u8]) -> ModelUploadHeader {
    ModelUploadHeader {
        name: name.into(),
        activate: false,
        sha256: hex::encode(Sha256::digest(bytes)),
        size: bytes.len() as u64,
    }
}

async fn versions(m: &mut Models, name: &str) -> Vec<u64> {
    m.list_models(ListModelsRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
        .versions
        .iter()
        .map(|v| v.version)
        .collect()
}

/// The call failed with INVALID_ARGUMENT naming `field`; returns the message.
fn refused_on<T: std::fmt::Debug>(field: &str, r: Result<T, Status>) -> String {
    let status = r.expect_err("the upload was accepted");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let fields: Vec<String> = details
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    assert_eq!(fields, [field], "{status:?}");
    status.message().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_streams_in_chunks_checked_by_sha256_and_a_bad_stream_stores_nothing() {
    let s = Server::start(&[FAST_MARKET]).await;
    let mut m = models(&s);
    // Any bytes are a model to the store (the policy checks them at
    // activation); 3 MiB in 100 KiB chunks.
    let model: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();

    // The first version of a model nobody has made yet.
    let v = m
        .upload_model_stream(tokio_stream::iter(stream(
            header("fresh", &model),
            &model,
            100 * 1024,
        )))
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", s.serve.stderr()))
        .into_inner();
    assert_eq!(
        (v.name.as_str(), v.version, v.size),
        ("fresh", 1, model.len() as u64)
    );
    assert_eq!(v.sha256, hex::encode(Sha256::digest(&model)));
    assert!(!v.active);

    // A flipped byte in transit: refused on the sha256, nothing stored.
    let mut flipped = model.clone();
    flipped[12_345] ^= 1;
    let r = m
        .upload_model_stream(tokio_stream::iter(stream(
            header("fresh", &model),
            &flipped,
            64 * 1024,
        )))
        .await;
    let message = refused_on("header.sha256", r);
    assert!(message.contains("nothing was stored"), "{message}");
    // A stream cut short: refused on the size.
    let r = m
        .upload_model_stream(tokio_stream::iter(stream(
            header("fresh", &model),
            &model[..model.len() / 2],
            64 * 1024,
        )))
        .await;
    refused_on("header.size", r);
    // No sha256, or data before the header.
    let mut no_sha = header("fresh", &model);
    no_sha.sha256.clear();
    let r = m
        .upload_model_stream(tokio_stream::iter(stream(no_sha, &model, 1 << 20)))
        .await;
    refused_on("header.sha256", r);
    let data_first = vec![ModelChunk {
        chunk: Some(ModelPart::Data(vec![1, 2, 3])),
    }];
    refused_on(
        "header",
        m.upload_model_stream(tokio_stream::iter(data_first)).await,
    );
    assert_eq!(versions(&mut m, "fresh").await, [1]);

    // The same model again is the next version.
    let v = m
        .upload_model_stream(tokio_stream::iter(stream(
            header("fresh", &model),
            &model,
            1 << 20,
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.version, 2);
    assert_eq!(versions(&mut m, "fresh").await, [1, 2]);
}
