//! TLS between rollcall peers, and for the stock gRPC clients of consumers.
//!
//! Between rollcall replicas: every replica presents a self-signed certificate for its
//! own Ed25519 key, and each side accepts the other only by that key (like Syncthing's
//! device ids). No certificate authority, no host names. TLS 1.3 only. The peer's
//! CertificateVerify signature is checked directly against the key of the certificate's
//! SubjectPublicKeyInfo, so the peer proved it holds that key.
//!
//! For stock clients whose TLS stack offers no Ed25519 (grpcio's BoringSSL, the JDK):
//! an ECDSA P-256 certificate **bound** to a replica key. The binding is a URI in the
//! certificate's subjectAltName, `urn:rollcall:tls-binding:v1:<key>:<expires ms>:<sig>`,
//! where `sig` is the replica key's Ed25519 signature over [`BINDING_DOMAIN`], the
//! certificate's SubjectPublicKeyInfo (DER) and the expiry (u64, big-endian; 0: never).
//! A peer presenting such a certificate proves it holds the P-256 key (its
//! CertificateVerify), and the binding proves the replica key's holder handed it that
//! key: the connection is the replica's, marked [`PeerIdentity::bound`]. A node presents
//! its own bound P-256 certificate to clients that do not ask for rollcall's Ed25519
//! (rollcall's own clients announce the ALPN protocol [`ROLLCALL_ALPN`]).
//!
//! Invariants: no plaintext listener in this module; a peer's identity comes from the
//! certificate's parsed SubjectPublicKeyInfo (and, for P-256, its one verified binding),
//! never from bytes found elsewhere in it; which keys are admitted is decided by the
//! caller (a [`KeyPolicy`] on the client side, the node's access check on the server
//! side), never by this module; a bound certificate is only ever an identity, what it
//! may do is decided per call (reading, not writing or syncing).

use std::fmt;
use std::sync::Arc;

use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rcgen::PublicKeyData;
use rollcall_core::ReplicaId;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// What a binding's signature covers first (then the SubjectPublicKeyInfo, then the expiry).
pub const BINDING_DOMAIN: &[u8] = b"rollcall tls binding v1\0";

/// The prefix of the subjectAltName URI carrying a binding.
pub const BINDING_URI_PREFIX: &str = "urn:rollcall:tls-binding:v1:";

/// The ALPN protocol rollcall's own clients offer beside `h2`: such a client is served
/// the node's Ed25519 certificate (and pins the node by its key).
pub const ROLLCALL_ALPN: &[u8] = b"rollcall-ed25519";

/// The DNS name in every certificate rollcall makes: the name a stock client verifies
/// (`grpc.ssl_target_name_override`).
pub const CERTIFICATE_NAME: &str = "rollcall";

/// Why TLS material could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("generating the certificate: {0}")]
    Certificate(String),
    /// rustls refused the configuration.
    #[error("tls configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Which peer keys a side accepts.
pub trait KeyPolicy: Send + Sync + fmt::Debug {
    /// True if a peer holding `key` may connect.
    fn accepts(&self, key: &ReplicaId) -> bool;
}

/// A fixed set of keys.
#[derive(Debug, Clone)]
pub struct KeySet(pub Vec<ReplicaId>);

impl KeyPolicy for KeySet {
    fn accepts(&self, key: &ReplicaId) -> bool {
        self.0.contains(key)
    }
}

/// Who a TLS peer is, from its certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The replica key the peer proved (directly, or through a binding).
    pub key: ReplicaId,
    /// True when the peer holds a P-256 key bound to `key`, not `key` itself.
    pub bound: bool,
}

/// Why a certificate names nobody.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateProblem {
    /// Not one DER X.509 certificate.
    #[error("not an X.509 certificate")]
    Malformed,
    /// Neither Ed25519 nor P-256.
    #[error("the certificate's key is neither Ed25519 nor ECDSA P-256")]
    UnsupportedKey,
    /// A P-256 certificate without exactly one binding URI.
    #[error("an ECDSA certificate must carry exactly one rollcall binding (made by `rollcall consumer`)")]
    NoBinding,
    /// The binding does not verify.
    #[error("the certificate's binding to a replica key does not verify")]
    BadBinding,
    /// The binding expired.
    #[error("the certificate's binding expired at {expired_ms} ms")]
    BindingExpired {
        /// When.
        expired_ms: u64,
    },
}

const OID_ED25519: &str = "1.3.101.112";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";

/// The identity `certificate` proves, at `now_ms` (for the expiry of a binding).
///
/// # Errors
///
/// [`CertificateProblem`] names what is wrong.
pub fn identity_of_certificate(certificate: &[u8], now_ms: u64) -> Result<PeerIdentity, CertificateProblem> {
    let (rest, parsed) = X509Certificate::from_der(certificate).map_err(|_| CertificateProblem::Malformed)?;
    if !rest.is_empty() {
        return Err(CertificateProblem::Malformed);
    }
    let spki = parsed.public_key();
    match spki.algorithm.algorithm.to_id_string().as_str() {
        OID_ED25519 => {
            let key: [u8; 32] =
                spki.subject_public_key.data.as_ref().try_into().map_err(|_| CertificateProblem::Malformed)?;
            Ok(PeerIdentity { key: ReplicaId(key), bound: false })
        }
        OID_EC_PUBLIC_KEY => {
            let curve = spki.algorithm.parameters.as_ref().and_then(|any| any.as_oid().ok());
            if curve.map(|oid| oid.to_id_string()).as_deref() != Some(OID_P256) {
                return Err(CertificateProblem::UnsupportedKey);
            }
            let names = parsed.subject_alternative_name().map_err(|_| CertificateProblem::Malformed)?;
            let mut bindings =
                names.iter().flat_map(|names| names.value.general_names.iter()).filter_map(|name| match name {
                    GeneralName::URI(uri) => uri.strip_prefix(BINDING_URI_PREFIX),
                    _ => None,
                });
            let (Some(binding), None) = (bindings.next(), bindings.next()) else {
                return Err(CertificateProblem::NoBinding);
            };
            let (key, expires_ms) = verify_binding(binding, spki.raw)?;
            if expires_ms != 0 && now_ms > expires_ms {
                return Err(CertificateProblem::BindingExpired { expired_ms: expires_ms });
            }
            Ok(PeerIdentity { key, bound: true })
        }
        _ => Err(CertificateProblem::UnsupportedKey),
    }
}

/// The signed message of a binding.
fn binding_message(spki_der: &[u8], expires_ms: u64) -> Vec<u8> {
    let mut message = Vec::with_capacity(BINDING_DOMAIN.len() + spki_der.len() + 8);
    message.extend_from_slice(BINDING_DOMAIN);
    message.extend_from_slice(spki_der);
    message.extend_from_slice(&expires_ms.to_be_bytes());
    message
}

fn verify_binding(binding: &str, spki_der: &[u8]) -> Result<(ReplicaId, u64), CertificateProblem> {
    let bad = || CertificateProblem::BadBinding;
    let mut parts = binding.split(':');
    let (Some(key), Some(expires), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let key: [u8; 32] = hex::decode(key).ok().and_then(|bytes| bytes.try_into().ok()).ok_or_else(bad)?;
    let expires_ms: u64 = expires.parse().map_err(|_| bad())?;
    let signature: [u8; 64] = hex::decode(signature).ok().and_then(|bytes| bytes.try_into().ok()).ok_or_else(bad)?;
    let verifying_key = VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
    verifying_key
        .verify_strict(&binding_message(spki_der, expires_ms), &Signature::from_bytes(&signature))
        .map_err(|_| bad())?;
    Ok((ReplicaId(key), expires_ms))
}

/// An ECDSA P-256 certificate and key bound to a replica key, as PEM.
#[derive(Clone, Debug)]
pub struct BoundCertificate {
    /// The certificate (PEM).
    pub certificate_pem: String,
    /// Its private key (PKCS#8 PEM).
    pub private_key_pem: String,
}

/// Makes a fresh P-256 key and a self-signed certificate for it, bound to `signer`'s
/// replica key until `expires_ms` (0: as long as the key's enrollment admits it).
///
/// # Errors
///
/// [`TlsError::Certificate`] if rcgen fails.
pub fn bound_certificate(signer: &SigningKey, expires_ms: u64, label: &str) -> Result<BoundCertificate, TlsError> {
    let failed = |err: rcgen::Error| TlsError::Certificate(err.to_string());
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(failed)?;
    let spki = key_pair.subject_public_key_info();
    let signature = signer.sign(&binding_message(&spki, expires_ms));
    let uri = format!(
        "{BINDING_URI_PREFIX}{}:{expires_ms}:{}",
        hex::encode(signer.verifying_key().as_bytes()),
        hex::encode(signature.to_bytes())
    );
    let mut params = rcgen::CertificateParams::new(vec![CERTIFICATE_NAME.to_string()]).map_err(failed)?;
    params.subject_alt_names.push(rcgen::SanType::URI(uri.try_into().map_err(failed)?));
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, label);
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2099, 12, 31);
    let certificate = params.self_signed(&key_pair).map_err(failed)?;
    Ok(BoundCertificate { certificate_pem: certificate.pem(), private_key_pem: key_pair.serialize_pem() })
}

/// The certificate and key a replica presents.
#[derive(Clone)]
pub struct TlsIdentity {
    cert: CertificateDer<'static>,
    pkcs8: Vec<u8>,
    /// The node's bound P-256 certificate for stock clients (servers only).
    stock: Option<(CertificateDer<'static>, Vec<u8>)>,
}

impl TlsIdentity {
    /// A self-signed certificate for `key`.
    ///
    /// # Errors
    ///
    /// [`TlsError::Certificate`] if rcgen fails.
    pub fn for_key(key: &SigningKey) -> Result<TlsIdentity, TlsError> {
        let pkcs8 = key.to_pkcs8_der().map_err(|err| TlsError::Certificate(err.to_string()))?.as_bytes().to_vec();
        let key_der = PrivatePkcs8KeyDer::from(pkcs8.clone());
        let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key_der, &rcgen::PKCS_ED25519)
            .map_err(|err| TlsError::Certificate(err.to_string()))?;
        let params = rcgen::CertificateParams::new(vec![CERTIFICATE_NAME.to_string()])
            .map_err(|err| TlsError::Certificate(err.to_string()))?;
        let cert = params.self_signed(&key_pair).map_err(|err| TlsError::Certificate(err.to_string()))?;
        Ok(TlsIdentity { cert: cert.der().clone(), pkcs8, stock: None })
    }

    /// Adds the bound certificate served to stock clients.
    ///
    /// # Errors
    ///
    /// [`TlsError::Certificate`] if the PEM does not hold one certificate and one key.
    pub fn with_stock_certificate(mut self, bound: &BoundCertificate) -> Result<TlsIdentity, TlsError> {
        let failed = |err: rustls::pki_types::pem::Error| TlsError::Certificate(err.to_string());
        let certificate = CertificateDer::from_pem_slice(bound.certificate_pem.as_bytes()).map_err(failed)?;
        let key = PrivatePkcs8KeyDer::from_pem_slice(bound.private_key_pem.as_bytes()).map_err(failed)?;
        self.stock = Some((certificate, key.secret_pkcs8_der().to_vec()));
        Ok(self)
    }

    fn chain_and_key(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (vec![self.cert.clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone())))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certified(
    provider: &CryptoProvider,
    certificate: CertificateDer<'static>,
    pkcs8: Vec<u8>,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let key = provider.key_provider.load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)))?;
    Ok(Arc::new(CertifiedKey::new(vec![certificate], key)))
}

/// Serves the Ed25519 certificate to rollcall's clients and the bound P-256 one to the rest.
#[derive(Debug)]
struct CertificateByClient {
    ed25519: Arc<CertifiedKey>,
    stock: Option<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for CertificateByClient {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let rollcall_client = hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == ROLLCALL_ALPN));
        let offers_ed25519 = hello.signature_schemes().contains(&SignatureScheme::ED25519);
        match &self.stock {
            Some(stock) if !(rollcall_client && offers_ed25519) => Some(stock.clone()),
            _ => Some(self.ed25519.clone()),
        }
    }
}

/// The server side: presents `identity` (and its stock certificate to stock clients);
/// requires a client certificate that proves a replica key, directly or bound. Which
/// keys are admitted is the node's access check, per call, so a refused client is told
/// why in a gRPC status rather than by a dropped connection.
///
/// # Errors
///
/// [`TlsError::Config`] if rustls refuses the configuration.
pub fn server_config(identity: &TlsIdentity) -> Result<rustls::ServerConfig, TlsError> {
    let provider = provider();
    let ed25519 = certified(&provider, identity.cert.clone(), identity.pkcs8.clone())?;
    let stock = match &identity.stock {
        Some((certificate, pkcs8)) => Some(certified(&provider, certificate.clone(), pkcs8.clone())?),
        None => None,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(ClientIdentityVerifier { provider }))
        .with_cert_resolver(Arc::new(CertificateByClient { ed25519, stock }));
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The client side: presents `identity`, accepts only a server whose Ed25519 key `policy`
/// accepts.
///
/// # Errors
///
/// [`TlsError::Config`] if rustls refuses the configuration.
pub fn client_config(identity: &TlsIdentity, policy: Arc<dyn KeyPolicy>) -> Result<rustls::ClientConfig, TlsError> {
    let (chain, key) = identity.chain_and_key();
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PeerKeyVerifier { policy }))
        .with_client_auth_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), ROLLCALL_ALPN.to_vec()];
    Ok(config)
}

fn rejected(problem: &CertificateProblem) -> rustls::Error {
    let error = match problem {
        CertificateProblem::BindingExpired { .. } => rustls::CertificateError::Expired,
        CertificateProblem::BadBinding => rustls::CertificateError::BadSignature,
        _ => rustls::CertificateError::BadEncoding,
    };
    rustls::Error::InvalidCertificate(error)
}

/// Checks a handshake signature against the identity `cert` proves.
fn verify_handshake(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<PeerIdentity, rustls::Error> {
    let identity = identity_of_certificate(cert, crate::writer::now_ms()).map_err(|problem| rejected(&problem))?;
    let invalid = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature);
    if identity.bound {
        if dss.scheme != SignatureScheme::ECDSA_NISTP256_SHA256 {
            return Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::NoSignatureSchemesInCommon));
        }
        rustls::crypto::verify_tls13_signature(message, cert, dss, &provider.signature_verification_algorithms)?;
    } else {
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::NoSignatureSchemesInCommon));
        }
        let verifying_key = VerifyingKey::from_bytes(&identity.key.0).map_err(|_| invalid())?;
        let signature: [u8; 64] = dss.signature().try_into().map_err(|_| invalid())?;
        verifying_key.verify_strict(message, &Signature::from_bytes(&signature)).map_err(|_| invalid())?;
    }
    Ok(identity)
}

/// The client side's check of a server: Ed25519, a key the policy accepts.
#[derive(Debug)]
struct PeerKeyVerifier {
    policy: Arc<dyn KeyPolicy>,
}

impl PeerKeyVerifier {
    fn check_certificate(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        match identity_of_certificate(cert, crate::writer::now_ms()) {
            Ok(identity) if !identity.bound && self.policy.accepts(&identity.key) => Ok(()),
            Ok(_) => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)),
            Err(problem) => Err(rejected(&problem)),
        }
    }
}

impl ServerCertVerifier for PeerKeyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check_certificate(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_certificate(cert)?;
        // Only Ed25519 is offered, so a server's signature is never ECDSA here.
        verify_handshake(&rustls::crypto::ring::default_provider(), message, cert, dss)?;
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The server side's check of a client: a certificate proving a replica key.
#[derive(Debug)]
struct ClientIdentityVerifier {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for ClientIdentityVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        identity_of_certificate(end_entity, crate::writer::now_ms()).map_err(|problem| rejected(&problem))?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_handshake(&self.provider, message, cert, dss)?;
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519, SignatureScheme::ECDSA_NISTP256_SHA256]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn der(pem_text: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem_text.as_bytes()).expect("pem").to_vec()
    }

    #[test]
    fn an_ed25519_certificate_names_its_key() {
        let identity = TlsIdentity::for_key(&key(1)).expect("identity");
        let found = identity_of_certificate(&identity.cert, 0).expect("identity");
        assert_eq!(found, PeerIdentity { key: ReplicaId(*key(1).verifying_key().as_bytes()), bound: false });
    }

    #[test]
    fn a_bound_certificate_names_the_key_that_signed_its_binding() {
        let bound = bound_certificate(&key(2), 0, "数据组").expect("certificate");
        let found = identity_of_certificate(&der(&bound.certificate_pem), 1).expect("identity");
        assert_eq!(found, PeerIdentity { key: ReplicaId(*key(2).verifying_key().as_bytes()), bound: true });
    }

    #[test]
    fn an_expired_binding_names_nobody() {
        let bound = bound_certificate(&key(2), 1_000, "x").expect("certificate");
        let certificate = der(&bound.certificate_pem);
        assert!(identity_of_certificate(&certificate, 999).is_ok());
        assert_eq!(
            identity_of_certificate(&certificate, 1_001),
            Err(CertificateProblem::BindingExpired { expired_ms: 1_000 })
        );
    }

    #[test]
    fn a_binding_copied_onto_another_key_does_not_verify() {
        // The binding signs one SubjectPublicKeyInfo: pasted into a certificate for a
        // key the attacker made, it names nobody.
        let genuine = bound_certificate(&key(3), 0, "x").expect("certificate");
        let genuine_der = der(&genuine.certificate_pem);
        let (_, parsed) = X509Certificate::from_der(&genuine_der).expect("parse");
        let uri = parsed
            .subject_alternative_name()
            .expect("san")
            .expect("present")
            .value
            .general_names
            .iter()
            .find_map(|name| match name {
                GeneralName::URI(uri) => Some(uri.to_string()),
                _ => None,
            })
            .expect("binding");
        let attacker = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = rcgen::CertificateParams::new(vec![CERTIFICATE_NAME.to_string()]).expect("params");
        params.subject_alt_names.push(rcgen::SanType::URI(uri.try_into().expect("uri")));
        let forged = params.self_signed(&attacker).expect("certificate");
        assert_eq!(identity_of_certificate(forged.der(), 0), Err(CertificateProblem::BadBinding));
    }

    #[test]
    fn a_p256_certificate_without_a_binding_names_nobody() {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let params = rcgen::CertificateParams::new(vec![CERTIFICATE_NAME.to_string()]).expect("params");
        let certificate = params.self_signed(&key_pair).expect("certificate");
        assert_eq!(identity_of_certificate(certificate.der(), 0), Err(CertificateProblem::NoBinding));
    }

    #[test]
    fn an_ed25519_key_elsewhere_in_a_p256_certificate_is_not_an_identity() {
        // The old byte search would have found an Ed25519 SubjectPublicKeyInfo anywhere
        // in the certificate; the parser reads only the subject's.
        let victim = key(4).verifying_key();
        let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
        spki.extend_from_slice(victim.as_bytes());
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = rcgen::CertificateParams::new(vec![CERTIFICATE_NAME.to_string()]).expect("params");
        params.custom_extensions.push(rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], spki));
        let certificate = params.self_signed(&key_pair).expect("certificate");
        assert_eq!(identity_of_certificate(certificate.der(), 0), Err(CertificateProblem::NoBinding));
    }
}
