//! Certificates made at test time for the TLS tests (rcgen): a CA, a
//! server certificate for `localhost` signed by it, an expired one, a
//! client certificate (common name `oslo-client`) for the `EXTERNAL` login
//! method, and a second CA that signed nothing of the server's. PEM files
//! in a temp dir that lives as long as the [`Pki`].

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The common name of the client certificate, which `EXTERNAL` logs in as.
pub const CLIENT_NAME: &str = "oslo-client";

/// The files.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// Makes every certificate and key.
    pub fn make() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("omt-pki-")
            .tempdir()
            .expect("a temp dir for certificates");
        let pki = Pki { dir };
        let (ca_params, ca_cert, ca_key) = ca("oslo-messaging test CA");
        pki.write("ca.pem", &ca_cert.pem());
        let issuer = Issuer::new(ca_params, ca_key);

        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        pki.leaf("server", &server, &issuer);

        let mut expired = server.clone();
        expired.not_before = rcgen::date_time_ymd(2020, 1, 1);
        expired.not_after = rcgen::date_time_ymd(2021, 1, 1);
        pki.leaf("expired", &expired, &issuer);

        let mut client = CertificateParams::new(Vec::<String>::new()).expect("params");
        client
            .distinguished_name
            .push(DnType::CommonName, CLIENT_NAME);
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        pki.leaf("client", &client, &issuer);

        let (_, other, _) = ca("another CA");
        pki.write("other-ca.pem", &other.pem());
        pki
    }

    /// `<name>.pem` (a certificate) or `<name>.key` (its key).
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, file: &str, pem: &str) {
        std::fs::write(self.path(file), pem).unwrap_or_else(|e| panic!("write {file}: {e}"));
    }

    fn leaf(&self, name: &str, params: &CertificateParams, issuer: &Issuer<'_, KeyPair>) {
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, issuer).expect("signed");
        self.write(&format!("{name}.pem"), &cert.pem());
        self.write(&format!("{name}.key"), &key.serialize_pem());
    }
}

fn ca(name: &str) -> (CertificateParams, rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).expect("self-signed");
    (params, cert, key)
}
