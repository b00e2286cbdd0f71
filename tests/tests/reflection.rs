//! Server reflection as stock tools use it (issue 15): v1 and v1alpha both list
//! `rollcall.v1.Node`, and asking for it returns `node.proto` together with
//! `event.proto`, which it imports, so a client's descriptor pool resolves every type.

use prost::Message;
use rollcall_tests::{NodeProcess, init_node};

macro_rules! ask {
    ($version:ident, $channel:expr, $request:expr) => {{
        use tonic_reflection::pb::$version as pb;
        let mut client = pb::server_reflection_client::ServerReflectionClient::new($channel.clone());
        let request = pb::ServerReflectionRequest { host: String::new(), message_request: Some($request) };
        let mut responses = client
            .server_reflection_info(tokio_stream::iter(vec![request]))
            .await
            .expect("reflection answers")
            .into_inner();
        responses.message().await.expect("a response").expect("one response").message_response.expect("an answer")
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1_and_v1alpha_answer_with_dependencies() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("hb");
    init_node(&dir, "hb", "province");
    let node = NodeProcess::start(&dir);
    let channel = node.operator_channel(&dir).await;
    let names = |files: Vec<Vec<u8>>| -> Vec<String> {
        files
            .iter()
            .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).expect("a file").name().to_string())
            .collect()
    };
    {
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest as Ask;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse as Answer;
        let Answer::ListServicesResponse(listed) = ask!(v1, channel, Ask::ListServices(String::new())) else {
            panic!("a list")
        };
        let services: Vec<String> = listed.service.into_iter().map(|s| s.name).collect();
        assert!(
            services.contains(&"rollcall.v1.Node".to_string())
                && services.contains(&"grpc.health.v1.Health".to_string()),
            "{services:?}"
        );
        let Answer::FileDescriptorResponse(found) =
            ask!(v1, channel, Ask::FileContainingSymbol("rollcall.v1.Node".into()))
        else {
            panic!("files")
        };
        assert_eq!(names(found.file_descriptor_proto), ["rollcall/v1/node.proto", "rollcall/v1/event.proto"]);
        let Answer::ErrorResponse(error) = ask!(v1, channel, Ask::FileContainingSymbol("no.Such".into())) else {
            panic!("an error")
        };
        assert_eq!(error.error_code, tonic::Code::NotFound as i32);
    }
    {
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as Ask;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as Answer;
        let Answer::ListServicesResponse(listed) = ask!(v1alpha, channel, Ask::ListServices(String::new())) else {
            panic!("a list")
        };
        assert!(listed.service.iter().any(|s| s.name == "rollcall.v1.Node"));
        let Answer::FileDescriptorResponse(found) =
            ask!(v1alpha, channel, Ask::FileByFilename("rollcall/v1/node.proto".into()))
        else {
            panic!("files")
        };
        assert_eq!(names(found.file_descriptor_proto), ["rollcall/v1/node.proto", "rollcall/v1/event.proto"]);
    }
}
