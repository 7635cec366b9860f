//! Generates the tonic/prost code of `wasmtrade.v1` and a file descriptor
//! set (for gRPC reflection) into `OUT_DIR`, with the vendored `protoc`, so
//! building needs no `protoc` on the machine.

use std::path::PathBuf;
use std::process::ExitCode;

const PROTOS: [&str; 2] = ["wasmtrade/v1/wasmtrade.proto", "wasmtrade/v1/models.proto"];
const DESCRIPTOR_SET: &str = "wasmtrade_descriptor.bin";

fn main() -> ExitCode {
    match generate() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Cargo shows a failing build script's stderr; one clear line.
            eprintln!("error: wasmtrade-proto build failed: {message}");
            ExitCode::FAILURE
        }
    }
}

fn generate() -> Result<(), String> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let out_dir = std::env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .ok_or("OUT_DIR is not set (run this through cargo)")?;
    let protoc = protoc_bin_vendored::protoc_bin_path()
        .map_err(|e| format!("no vendored protoc for this platform: {e}"))?;

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(&protoc);

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .file_descriptor_set_path(out_dir.join(DESCRIPTOR_SET))
        .compile_with_config(config, &PROTOS, &["."])
        .map_err(|e| {
            format!(
                "cannot compile {} with {}: {e}",
                PROTOS.join(", "),
                protoc.display()
            )
        })
}
