//! The phone's HTTPS, end to end: a server behind TLS with a certificate from the commune's own
//! authority (as on a LAN no public authority can certify) is reached, enrolled with and synced
//! through by a client that trusts that authority; a client that does not refuses it
//! (`untrusted_server`, one clear sentence), and a certificate that cannot be used is
//! `bad_certificate`.

use sotay_client::{Client, ClientConfig, ClientError};
use sotay_server::admin;
use sotay_sync_core::RecordKind;
use sotay_sync_core::device::{Device, DeviceIdentity, MemoryStore};
use sotay_tests::*;
use std::path::Path;
use std::sync::Arc;

/// Runs `openssl` with these arguments in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A certificate authority and a certificate for `localhost` signed by it, as DER:
/// (authority, server certificate, server key in PKCS #8).
fn commune_authority(dir: &Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Uy ban xa Test",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ],
    );
    openssl(dir, &["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"]);
    openssl(dir, &["x509", "-in", "server.pem", "-outform", "DER", "-out", "server.der"]);
    openssl(dir, &["pkcs8", "-topk8", "-nocrypt", "-in", "server.key", "-outform", "DER", "-out", "server.key.der"]);
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    (read("ca.der"), read("server.der"), read("server.key.der"))
}

/// A TLS front for the server at `upstream` (as Caddy would be), on a port of its own.
async fn tls_front(upstream: String, cert: Vec<u8>, key: Vec<u8>) -> u16 {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert)], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                // A refused handshake (the client does not trust us) just ends the connection.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_phone_enrols_and_syncs_over_https_with_the_communes_own_authority() {
    let app = spawn_app().await;
    app.commune().await;
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = commune_authority(dir.path());
    let port = tls_front(app.base.trim_start_matches("http://").to_string(), cert, key).await;
    let base = format!("https://localhost:{port}");

    // Trusting the commune's authority: enrolment, a token and a sync, all over TLS.
    let trusting = ClientConfig { extra_roots: vec![ca], ..ClientConfig::default() };
    let client = Client::with_config(&base, trusting).unwrap();
    let user = admin::user_by_name(&app.state.db, "lan").await.unwrap();
    let code = admin::issue_enrolment_code(&app.state.db, user, 3600).await.unwrap();
    let e = client.enrol(&code, "điện thoại của Lan", None).await.unwrap();
    let token = client.token(e.device_id, &e.device_secret).await.unwrap().access_token;
    let identity =
        DeviceIdentity { device: e.device_id, user: e.user_id, commune: e.commune_id, village: e.village_id.unwrap() };
    let mut phone = Device::new(identity, MemoryStore::default());
    let id = phone.create(RecordKind::Activity, &activity_edits(12, 9), NOW_MS).unwrap();
    let report = client.sync(&mut phone, &token).await.unwrap();
    assert_eq!(report.acked, 1, "{report:?}");
    assert!(app.server_record(id).await.is_some(), "stored through the TLS front");

    // Not trusting it (only the public roots): refused at the handshake, one clear sentence.
    let stranger = Client::new(&base).unwrap();
    let err = stranger.me(&token).await.unwrap_err();
    assert!(matches!(err, ClientError::Untrusted(_)), "{err:?}");
    assert_eq!(err.code(), "untrusted_server");
    let message = err.message(sotay_sync_core::Lang::Vi);
    assert!(message.contains("an toàn") && !message.contains('\n'), "{message}");

    // A certificate that is not one.
    let broken = ClientConfig { extra_roots: vec![b"not a certificate".to_vec()], ..ClientConfig::default() };
    let err = Client::with_config(&base, broken).unwrap_err();
    assert_eq!(err.code(), "bad_certificate");
}
