//! Who may call: bearer tokens, the grant each one carries, and the Handshake that trades
//! basic credentials for a bearer header. Every call is authenticated here and nowhere else;
//! what a grant may then see is decided by the session it gets (a catalog restricted to its
//! namespace), see `service.rs`.

use std::collections::HashMap;

use base64::Engine;
use tonic::metadata::MetadataMap;
use tonic::Status;

/// What a token lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    /// Which token this is (its line in the token file); server-side handles are bound to
    /// it, so one token can never use another's prepared statements or results.
    pub id: u32,
    /// The only namespace visible, or None for all.
    pub namespace: Option<String>,
}

impl Grant {
    /// The grant of a server without tokens: everything.
    fn open() -> Self {
        Grant {
            id: 0,
            namespace: None,
        }
    }
}

/// The tokens the server accepts; empty means no authentication.
#[derive(Debug, Clone, Default)]
pub struct Tokens(HashMap<String, Grant>);

impl Tokens {
    /// Parses a token file: one token per line, optionally followed by the namespace it is
    /// bound to; blank lines and `#` comments are ignored.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut tokens = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let token = parts.next().unwrap_or_default().to_owned();
            let namespace = parts.next().map(str::to_owned);
            if parts.next().is_some() {
                return Err(format!(
                    "token file line {}: expected 'TOKEN [NAMESPACE]'",
                    i + 1
                ));
            }
            let grant = Grant {
                id: i as u32 + 1,
                namespace,
            };
            if tokens.insert(token, grant).is_some() {
                return Err(format!(
                    "token file line {}: this token is already listed",
                    i + 1
                ));
            }
        }
        if tokens.is_empty() {
            return Err("the token file holds no token".into());
        }
        Ok(Tokens(tokens))
    }

    /// One token with access to everything.
    pub fn single(token: &str) -> Self {
        Tokens(HashMap::from([(
            token.to_owned(),
            Grant {
                id: 1,
                namespace: None,
            },
        )]))
    }

    /// True when calls must carry a token.
    pub fn enabled(&self) -> bool {
        !self.0.is_empty()
    }

    /// The grant of a call, from its `authorization: Bearer <token>` header.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Grant, Status> {
        if !self.enabled() {
            return Ok(Grant::open());
        }
        let header = metadata
            .get("authorization")
            .ok_or_else(|| {
                Status::unauthenticated(
                    "missing authorization: send 'Bearer <token>' or use Handshake",
                )
            })?
            .to_str()
            .map_err(|_| Status::unauthenticated("authorization header is not text"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| Status::unauthenticated("authorization must be 'Bearer <token>'"))?;
        self.0
            .get(token.trim())
            .cloned()
            .ok_or_else(|| Status::unauthenticated("invalid token"))
    }

    /// The token of a Handshake's `authorization: Basic user:token` header (any user), or
    /// the empty string when the server needs no token.
    pub fn handshake(&self, metadata: &MetadataMap) -> Result<String, Status> {
        if !self.enabled() {
            return Ok(String::new());
        }
        let header = metadata
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| {
                Status::unauthenticated(
                    "handshake needs basic credentials (any user, a token as password)",
                )
            })?;
        let encoded = header
            .strip_prefix("Basic ")
            .ok_or_else(|| Status::unauthenticated("handshake needs 'Basic' credentials"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| Status::unauthenticated("credentials are not base64"))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| Status::unauthenticated("credentials are not text"))?;
        let (_, password) = text
            .split_once(':')
            .ok_or_else(|| Status::unauthenticated("credentials must be user:password"))?;
        if !self.0.contains_key(password) {
            return Err(Status::unauthenticated("invalid token"));
        }
        Ok(password.to_owned())
    }
}
