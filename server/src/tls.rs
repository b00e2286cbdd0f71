//! TLS between rollcall peers: every replica presents a self-signed certificate for its
//! own Ed25519 key, and each side accepts the other only by that key (like Syncthing's
//! device ids). No certificate authority, no host names.
//!
//! How a key is authenticated: TLS 1.3 only, Ed25519 only. The peer's CertificateVerify
//! signature is checked directly against the candidate key found in its certificate,
//! so whatever else the certificate says, the peer proved it holds that key. A
//! certificate must contain exactly one Ed25519 SubjectPublicKeyInfo, so the identity
//! is never ambiguous.
//!
//! Invariants: no plaintext listener in this module; the accepted keys are decided by
//! the caller's [`KeyPolicy`], never by this module.

use std::fmt;
use std::sync::Arc;

use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use rollcall_core::ReplicaId;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

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

/// The certificate and key a replica presents.
#[derive(Clone)]
pub struct TlsIdentity {
    cert: CertificateDer<'static>,
    pkcs8: Vec<u8>,
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
        let params = rcgen::CertificateParams::new(vec!["rollcall".to_string()])
            .map_err(|err| TlsError::Certificate(err.to_string()))?;
        let cert = params.self_signed(&key_pair).map_err(|err| TlsError::Certificate(err.to_string()))?;
        Ok(TlsIdentity { cert: cert.der().clone(), pkcs8 })
    }

    fn chain_and_key(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (vec![self.cert.clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone())))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server side: presents `identity`, requires a client certificate whose key `policy` accepts.
///
/// # Errors
///
/// [`TlsError::Config`] if rustls refuses the configuration.
pub fn server_config(identity: &TlsIdentity, policy: Arc<dyn KeyPolicy>) -> Result<rustls::ServerConfig, TlsError> {
    let (chain, key) = identity.chain_and_key();
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(PeerKeyVerifier { policy }))
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The client side: presents `identity`, accepts only a server whose key `policy` accepts.
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
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The replica key a certificate carries: its only Ed25519 SubjectPublicKeyInfo.
pub fn key_of_certificate(cert: &[u8]) -> Option<ReplicaId> {
    let mut found = None;
    for start in 0..cert.len().saturating_sub(ED25519_SPKI_PREFIX.len() + 32 - 1) {
        if cert[start..].starts_with(&ED25519_SPKI_PREFIX) {
            if found.is_some() {
                return None;
            }
            let key_start = start + ED25519_SPKI_PREFIX.len();
            found = Some(ReplicaId(cert[key_start..key_start + 32].try_into().ok()?));
        }
    }
    found
}

#[derive(Debug)]
struct PeerKeyVerifier {
    policy: Arc<dyn KeyPolicy>,
}

impl PeerKeyVerifier {
    fn check_certificate(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        match key_of_certificate(cert) {
            Some(key) if self.policy.accepts(&key) => Ok(()),
            Some(_) => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)),
            None => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)),
        }
    }

    fn check_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let invalid = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature);
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::NoSignatureSchemesInCommon));
        }
        let key = key_of_certificate(cert).ok_or_else(invalid)?;
        if !self.policy.accepts(&key) {
            return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure));
        }
        let verifying_key = VerifyingKey::from_bytes(&key.0).map_err(|_| invalid())?;
        let signature: [u8; 64] = dss.signature().try_into().map_err(|_| invalid())?;
        verifying_key.verify_strict(message, &Signature::from_bytes(&signature)).map_err(|_| invalid())?;
        Ok(HandshakeSignatureValid::assertion())
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
        self.check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for PeerKeyVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check_certificate(end_entity)?;
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
        self.check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}
