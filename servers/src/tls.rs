//! TLS for every server, beside plaintext on the same port.
//!
//! A server given a [`ServerTls`] reads the first byte of each connection: `0x16` (a TLS
//! handshake record) starts a TLS handshake (rustls, TLS 1.3 or 1.2, ALPN `h2` and
//! `http/1.1`), anything else is served in plaintext as before. No protocol's first byte can
//! be `0x16`: HTTP/1.1 starts with a method, HTTP/2 with its preface (`PRI`), and a floor
//! frame whose length prefix starts with `0x16` would be over any message limit.
//!
//! The certificate is made at start ([`ServerTls::self_signed`]) for `localhost` and the
//! addresses given; nothing is read from or left on disk unless the caller writes the
//! certificate out for its clients to trust.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A server's TLS identity and settings.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub config: Arc<rustls::ServerConfig>,
    /// The certificate, for clients to trust, as DER and as PEM.
    pub cert: CertificateDer<'static>,
    pub cert_pem: String,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating the certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
}

impl ServerTls {
    /// A self-signed certificate for `localhost` and `addrs`, made now, and rustls's
    /// defaults with ring (session resumption by ticket id from an in-memory cache).
    pub fn self_signed(addrs: &[IpAddr]) -> Result<ServerTls, TlsError> {
        let mut names = vec!["localhost".to_owned()];
        names.extend(addrs.iter().map(ToString::to_string));
        let made = rcgen::generate_simple_self_signed(names)?;
        let cert = made.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls { config: Arc::new(config), cert, cert_pem: made.cert.pem() })
    }
}

/// The cryptography both ends use: ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The first byte of a TLS handshake record.
pub const HANDSHAKE_RECORD: u8 = 0x16;
