//! gRPC server reflection, `grpc.reflection.v1` and `grpc.reflection.v1alpha`: what
//! stock tools (grpcurl, Python's grpcio-reflection, Postman, Java's and Go's clients)
//! ask to discover the API. Every answer carries the file asked for and every file it
//! depends on, transitively (the requested file first), so a client's descriptor pool
//! resolves `event.proto` when it asks for `rollcall.v1.Node` — tonic-reflection answers
//! with the file alone.
//!
//! Invariant: the index is built once from the compiled descriptor sets; answers are
//! pure lookups, one response per request, in order.

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::Arc;

use prost::Message;
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet};
use tokio_stream::Stream;

/// Every file the node serves, by name, and which file declares each symbol.
#[derive(Debug, Default)]
pub struct Files {
    by_name: HashMap<String, FileDescriptorProto>,
    symbols: HashMap<String, String>,
    services: Vec<String>,
}

fn index_messages(symbols: &mut HashMap<String, String>, file: &str, prefix: &str, messages: &[DescriptorProto]) {
    for message in messages {
        let name = format!("{prefix}.{}", message.name());
        index_enums(symbols, file, &name, &message.enum_type);
        index_messages(symbols, file, &name, &message.nested_type);
        for field in &message.field {
            symbols.insert(format!("{name}.{}", field.name()), file.to_string());
        }
        symbols.insert(name, file.to_string());
    }
}

fn index_enums(symbols: &mut HashMap<String, String>, file: &str, prefix: &str, enums: &[EnumDescriptorProto]) {
    for enumeration in enums {
        symbols.insert(format!("{prefix}.{}", enumeration.name()), file.to_string());
    }
}

impl Files {
    /// Indexes the encoded descriptor sets.
    ///
    /// # Errors
    ///
    /// The decoder's error when a set does not decode.
    pub fn from_sets(sets: &[&[u8]]) -> Result<Files, prost::DecodeError> {
        let mut files = Files::default();
        for set in sets {
            for file in FileDescriptorSet::decode(*set)?.file {
                let name = file.name().to_string();
                let package = file.package().to_string();
                index_messages(&mut files.symbols, &name, &package, &file.message_type);
                index_enums(&mut files.symbols, &name, &package, &file.enum_type);
                for service in &file.service {
                    let service_name = format!("{package}.{}", service.name());
                    for method in &service.method {
                        files.symbols.insert(format!("{service_name}.{}", method.name()), name.clone());
                    }
                    files.symbols.insert(service_name.clone(), name.clone());
                    files.services.push(service_name);
                }
                files.by_name.insert(name, file);
            }
        }
        files.services.sort();
        Ok(files)
    }

    /// The file named `name` and its transitive dependencies, encoded, `name` first.
    fn with_dependencies(&self, name: &str) -> Option<Vec<Vec<u8>>> {
        let first = self.by_name.get(name)?;
        let mut seen = BTreeSet::from([name.to_string()]);
        let mut order = vec![first];
        let mut next = 0;
        while next < order.len() {
            for dependency in &order[next].dependency {
                if seen.insert(dependency.clone())
                    && let Some(file) = self.by_name.get(dependency)
                {
                    order.push(file);
                }
            }
            next += 1;
        }
        Some(order.iter().map(|file| file.encode_to_vec()).collect())
    }
}

/// What one request asks, whatever the protocol version.
enum Ask {
    File(String),
    Symbol(String),
    Extension,
    ExtensionNumbers(String),
    Services,
}

/// The answer to one request.
enum Answer {
    Files(Vec<Vec<u8>>),
    Services(Vec<String>),
    Error(i32, String),
}

impl Files {
    fn answer(&self, ask: Ask) -> Answer {
        const NOT_FOUND: i32 = tonic::Code::NotFound as i32;
        match ask {
            Ask::File(name) => self
                .with_dependencies(&name)
                .map_or_else(|| Answer::Error(NOT_FOUND, format!("no file {name}")), Answer::Files),
            Ask::Symbol(symbol) => self
                .symbols
                .get(symbol.trim_start_matches('.'))
                .and_then(|file| self.with_dependencies(file))
                .map_or_else(|| Answer::Error(NOT_FOUND, format!("no symbol {symbol}")), Answer::Files),
            Ask::Extension => Answer::Error(NOT_FOUND, "rollcall's protocol declares no extensions".into()),
            Ask::ExtensionNumbers(name) => {
                Answer::Error(NOT_FOUND, format!("rollcall's protocol declares no extensions of {name}"))
            }
            Ask::Services => Answer::Services(self.services.clone()),
        }
    }
}

macro_rules! reflection_service {
    ($version:ident, $service:ident) => {
        /// The reflection service of this protocol version.
        #[derive(Clone, Debug)]
        pub struct $service(pub Arc<Files>);

        #[tonic::async_trait]
        impl tonic_reflection::pb::$version::server_reflection_server::ServerReflection for $service {
            type ServerReflectionInfoStream = Pin<
                Box<
                    dyn Stream<Item = Result<tonic_reflection::pb::$version::ServerReflectionResponse, tonic::Status>>
                        + Send,
                >,
            >;

            async fn server_reflection_info(
                &self,
                request: tonic::Request<tonic::Streaming<tonic_reflection::pb::$version::ServerReflectionRequest>>,
            ) -> Result<tonic::Response<Self::ServerReflectionInfoStream>, tonic::Status> {
                use pb::server_reflection_request::MessageRequest as Request;
                use pb::server_reflection_response::MessageResponse as Response;
                use tonic_reflection::pb::$version as pb;
                let files = self.0.clone();
                let mut requests = request.into_inner();
                let responses = async_stream_of(move |sender| async move {
                    while let Ok(Some(request)) = requests.message().await {
                        let ask = match request.message_request.clone() {
                            Some(Request::FileByFilename(name)) => Ask::File(name),
                            Some(Request::FileContainingSymbol(symbol)) => Ask::Symbol(symbol),
                            Some(Request::FileContainingExtension(_)) => Ask::Extension,
                            Some(Request::AllExtensionNumbersOfType(name)) => Ask::ExtensionNumbers(name),
                            Some(Request::ListServices(_)) | None => Ask::Services,
                        };
                        let message = match files.answer(ask) {
                            Answer::Files(file_descriptor_proto) => {
                                Response::FileDescriptorResponse(pb::FileDescriptorResponse { file_descriptor_proto })
                            }
                            Answer::Services(names) => Response::ListServicesResponse(pb::ListServiceResponse {
                                service: names.into_iter().map(|name| pb::ServiceResponse { name }).collect(),
                            }),
                            Answer::Error(error_code, error_message) => {
                                Response::ErrorResponse(pb::ErrorResponse { error_code, error_message })
                            }
                        };
                        let response = pb::ServerReflectionResponse {
                            valid_host: request.host.clone(),
                            original_request: Some(request),
                            message_response: Some(message),
                        };
                        if sender.send(Ok(response)).await.is_err() {
                            break;
                        }
                    }
                });
                Ok(tonic::Response::new(responses))
            }
        }
    };
}

reflection_service!(v1, ReflectionV1);
reflection_service!(v1alpha, ReflectionV1Alpha);

/// A stream fed by a task that `work` runs with the sending end of a bounded channel.
fn async_stream_of<T, F, Fut>(work: F) -> Pin<Box<dyn Stream<Item = T> + Send>>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(work(sender));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
}

/// Both reflection services over the node's descriptor sets (rollcall's, health's, and
/// reflection's own).
///
/// # Errors
///
/// The decoder's error when a compiled set does not decode (a build defect).
pub fn services() -> Result<
    (
        tonic_reflection::pb::v1::server_reflection_server::ServerReflectionServer<ReflectionV1>,
        tonic_reflection::pb::v1alpha::server_reflection_server::ServerReflectionServer<ReflectionV1Alpha>,
    ),
    prost::DecodeError,
> {
    let files = Arc::new(Files::from_sets(&[
        rollcall_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ])?);
    Ok((
        tonic_reflection::pb::v1::server_reflection_server::ServerReflectionServer::new(ReflectionV1(files.clone())),
        tonic_reflection::pb::v1alpha::server_reflection_server::ServerReflectionServer::new(ReflectionV1Alpha(files)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_comes_with_every_file_it_needs() {
        let files = Files::from_sets(&[rollcall_proto::FILE_DESCRIPTOR_SET]).expect("decodes");
        assert!(files.services.contains(&"rollcall.v1.Node".to_string()));
        let Answer::Files(encoded) = files.answer(Ask::Symbol("rollcall.v1.Node".into())) else { panic!("found") };
        let names: Vec<String> = encoded
            .iter()
            .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).expect("decodes").name().to_string())
            .collect();
        assert_eq!(names, ["rollcall/v1/node.proto", "rollcall/v1/event.proto"]);
        assert!(matches!(files.answer(Ask::Symbol("rollcall.v1.Node.Subscribe".into())), Answer::Files(_)));
        assert!(matches!(files.answer(Ask::Symbol("rollcall.v1.SignedEvent".into())), Answer::Files(_)));
        assert!(matches!(files.answer(Ask::Symbol("no.Such".into())), Answer::Error(5, _)));
    }
}
