//! TLS settings for both transports (SCP2P-WIRE.md §1.2): a fresh self-signed certificate per
//! listener start, no ALPN, no client certificates, and a client that accepts any server
//! certificate as v1 peers expect. Identity comes from the SCP2P handshake; between trove
//! peers the handshake is bound to this TLS channel through the exporter below, which is
//! what makes accepting any certificate safe.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, ring};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// Label of the TLS exporter value that trove peers sign (docs/PROTOCOL.md).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-trove-channel-binding-v1";
/// Server name clients send (SNI), as v1 clients do.
pub const SERVER_NAME: &str = "localhost";

/// The ring provider with AES-128-GCM preferred (the fastest suite on CPUs with AES
/// instructions), then the rest of ring's defaults.
pub fn provider() -> Arc<CryptoProvider> {
    let mut p = ring::default_provider();
    p.cipher_suites.sort_by_key(|s| match s.suite() {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384 => 1,
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => 2,
        _ => 3,
    });
    Arc::new(p)
}

/// A self-signed certificate and key, generated like the v1 listeners do.
pub struct SelfSigned {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

impl SelfSigned {
    /// A fresh certificate for `localhost`.
    pub fn generate() -> Result<SelfSigned, rcgen::Error> {
        let ck = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string()])?;
        Ok(SelfSigned {
            cert: ck.cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der())),
        })
    }
}

/// Server configuration for TLS over TCP: TLS 1.3 and 1.2, no ALPN, no client auth.
pub fn tcp_server_config(cert: &SelfSigned) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.clone()], cert.key.clone_key())?;
    Ok(Arc::new(cfg))
}

/// Server configuration for QUIC: TLS 1.3 only, no ALPN.
pub fn quic_server_config(cert: &SelfSigned) -> Result<rustls::ServerConfig, rustls::Error> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.clone()], cert.key.clone_key())?;
    cfg.max_early_data_size = 0;
    Ok(cfg)
}

/// Client configuration: any server certificate is accepted (its handshake signature is
/// still checked against the certificate it presents), no ALPN, no client certificate.
pub fn client_config(tls13_only: bool) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = provider();
    let algs = provider.signature_verification_algorithms;
    let versions: &[&rustls::SupportedProtocolVersion] =
        if tls13_only { &[&rustls::version::TLS13] } else { &[&rustls::version::TLS13, &rustls::version::TLS12] };
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert { algs }))
        .with_no_client_auth();
    cfg.resumption = rustls::client::Resumption::disabled();
    cfg.enable_early_data = false;
    Ok(cfg)
}

/// The server name clients present.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("static name is valid")
}

#[derive(Debug)]
struct AnyCert {
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
