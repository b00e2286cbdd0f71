//! Generates the protobuf messages (always) and the tonic services (feature `transport`)
//! with the `protoc` shipped by `protoc-bin-vendored`, so a fresh machine needs nothing installed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["rollcall/v1/event.proto", "rollcall/v1/node.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let transport = std::env::var_os("CARGO_FEATURE_TRANSPORT").is_some();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    config.file_descriptor_set_path(out_dir.join("rollcall_descriptor.bin"));
    // Every message derives serde too: a node's projection snapshot (rollcall-server
    // `snapshot`) stores the bodies it holds; the wire format stays protobuf.
    tonic_prost_build::configure()
        .bytes(".")
        .type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]")
        .build_server(transport)
        .build_client(transport)
        .compile_with_config(config, &protos, &["."])?;
    Ok(())
}
