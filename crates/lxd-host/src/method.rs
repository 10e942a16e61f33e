//! The HTTP methods LXD's REST API uses: our own type, so that the public API
//! does not expose the HTTP client crate (a new major version of it would
//! otherwise be a breaking change of this crate).

use std::fmt;

/// An HTTP method of the LXD REST API (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Method(reqwest::Method);

impl Method {
    /// `GET`
    pub const GET: Method = Method(reqwest::Method::GET);
    /// `POST`
    pub const POST: Method = Method(reqwest::Method::POST);
    /// `PUT`
    pub const PUT: Method = Method(reqwest::Method::PUT);
    /// `PATCH`
    pub const PATCH: Method = Method(reqwest::Method::PATCH);
    /// `DELETE`
    pub const DELETE: Method = Method(reqwest::Method::DELETE);

    /// The method's name, e.g. `"GET"`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn to_reqwest(&self) -> reqwest::Method {
        self.0.clone()
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn names_are_the_wire_names() {
        let all = [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ];
        let names: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["GET", "POST", "PUT", "PATCH", "DELETE"]);
        assert_eq!(Method::PATCH.to_reqwest(), reqwest::Method::PATCH);
    }
}
