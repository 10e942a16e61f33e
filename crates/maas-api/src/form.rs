//! Request parameters: form fields, MAAS's list and boolean conventions, multipart.

use std::fmt;

/// Values at least this long make the whole body `multipart/form-data`.
pub(crate) const MULTIPART_THRESHOLD: usize = 4096;

/// One form value.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: String,
    pub value: String,
    /// Secret or large payload: never logged, and forces multipart.
    pub bulky_secret: bool,
    /// Secret (password, key): never logged.
    pub secret: bool,
}

/// Ordered form fields (keys may repeat: MAAS reads lists as repeated keys).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Form {
    pub(crate) fields: Vec<Field>,
}

/// How a [`Form`] goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `application/x-www-form-urlencoded`
    UrlEncoded,
    /// `multipart/form-data` (plain fields, no file names, so MAAS reads them from `request.POST`)
    Multipart,
}

/// MAAS's boolean spelling (`true`/`false`; MAAS also accepts t/yes/y/on/1 and their opposites).
pub(crate) fn encode_bool(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Form::default()
    }

    /// Add `name=value`.
    pub fn text(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        self.fields.push(Field {
            name: name.to_owned(),
            value: value.to_string(),
            bulky_secret: false,
            secret: false,
        });
        self
    }

    /// Add `name=value` when `value` is `Some`.
    pub fn opt(&mut self, name: &str, value: Option<impl fmt::Display>) -> &mut Self {
        if let Some(v) = value {
            self.text(name, v);
        }
        self
    }

    /// Add `name=true|false`.
    pub fn bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.text(name, encode_bool(value))
    }

    /// Add `name=true|false` when `Some`.
    pub fn opt_bool(&mut self, name: &str, value: Option<bool>) -> &mut Self {
        if let Some(v) = value {
            self.bool(name, v);
        }
        self
    }

    /// Add `name=true` only when `value` is true (flags whose absence means false).
    pub fn flag(&mut self, name: &str, value: bool) -> &mut Self {
        if value {
            self.bool(name, true);
        }
        self
    }

    /// Add one `name=item` per item (MAAS's list convention: repeated keys).
    pub fn list<I, T>(&mut self, name: &str, items: I) -> &mut Self
    where
        I: IntoIterator<Item = T>,
        T: fmt::Display,
    {
        for item in items {
            self.text(name, item);
        }
        self
    }

    /// Add a secret value (never logged).
    pub fn secret(&mut self, name: &str, value: &str) -> &mut Self {
        self.fields.push(Field {
            name: name.to_owned(),
            value: value.to_owned(),
            bulky_secret: false,
            secret: true,
        });
        self
    }

    /// Add a large or sensitive payload (e.g. `user_data`): never logged, sent as multipart.
    pub fn payload(&mut self, name: &str, value: String) -> &mut Self {
        self.fields.push(Field {
            name: name.to_owned(),
            value,
            bulky_secret: true,
            secret: true,
        });
        self
    }

    /// True if there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The values of `name`, in order.
    #[cfg(test)]
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|f| f.name == name)
            .map(|f| f.value.as_str())
            .collect()
    }

    /// Names and values, secrets included (for building the request).
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
    }

    /// Total bytes of values (for logs).
    pub fn size(&self) -> usize {
        self.fields
            .iter()
            .map(|f| f.name.len() + f.value.len())
            .sum()
    }

    /// The encoding this form needs.
    pub fn encoding(&self) -> Encoding {
        if self
            .fields
            .iter()
            .any(|f| f.bulky_secret || f.value.len() >= MULTIPART_THRESHOLD)
        {
            Encoding::Multipart
        } else {
            Encoding::UrlEncoded
        }
    }

    /// The `application/x-www-form-urlencoded` body.
    pub fn to_urlencoded(&self) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs() {
            ser.append_pair(k, v);
        }
        ser.finish()
    }

    /// A multipart body (built fresh per attempt; reqwest's form is not cloneable).
    pub(crate) fn to_multipart(&self) -> reqwest::multipart::Form {
        let mut form = reqwest::multipart::Form::new();
        for f in &self.fields {
            form = form.text(f.name.clone(), f.value.clone());
        }
        form
    }
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for field in &self.fields {
            if field.secret {
                list.entry(&format_args!(
                    "{}=<redacted {} bytes>",
                    field.name,
                    field.value.len()
                ));
            } else {
                list.entry(&format_args!("{}={:?}", field.name, field.value));
            }
        }
        list.finish()
    }
}

/// One disk in a `storage` constraint: `[label:]size[(tag,tag)]`, size in GB (10^9 bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSpec {
    /// Label (MAAS reports matches per label in `constraints_by_type`).
    pub label: Option<String>,
    /// Minimum size in GB.
    pub size_gb: f64,
    /// Required disk tags.
    pub tags: Vec<String>,
}

impl StorageSpec {
    /// A disk of at least `size_gb` GB.
    pub fn new(size_gb: f64) -> Self {
        StorageSpec {
            label: None,
            size_gb,
            tags: Vec::new(),
        }
    }

    /// Set the label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Require a tag (e.g. `ssd`).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
}

/// Encode a `storage` constraint: `root:20(ssd),data:100`.
pub(crate) fn encode_storage(disks: &[StorageSpec]) -> String {
    disks
        .iter()
        .map(|d| {
            let mut s = String::new();
            if let Some(l) = &d.label {
                s.push_str(l);
                s.push(':');
            }
            s.push_str(&format_number(d.size_gb));
            if !d.tags.is_empty() {
                s.push('(');
                s.push_str(&d.tags.join(","));
                s.push(')');
            }
            s
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// One labelled interface constraint: `label:key=value,key=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceSpec {
    /// Label (MAAS reports matched interface ids per label).
    pub label: String,
    /// Constraint pairs, e.g. `("space", "prod")`, `("subnet", "cidr:10.0.0.0/24")`, `("ip", "10.0.0.9")`.
    pub constraints: Vec<(String, String)>,
}

impl InterfaceSpec {
    /// An interface constraint with a label.
    pub fn new(label: impl Into<String>) -> Self {
        InterfaceSpec {
            label: label.into(),
            constraints: Vec::new(),
        }
    }

    /// Add `key=value`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.constraints.push((key.into(), value.into()));
        self
    }
}

/// Encode an `interfaces` label map: `eth0:space=prod,mode=static;eth1:vid=42`.
pub(crate) fn encode_interfaces(ifaces: &[InterfaceSpec]) -> String {
    ifaces
        .iter()
        .map(|i| {
            let pairs = i
                .constraints
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            format!("{}:{}", i.label, pairs)
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_and_lists() {
        let mut f = Form::new();
        f.bool("erase", true)
            .bool("force", false)
            .opt_bool("x", None)
            .flag("dry_run", false)
            .flag("verbose", true)
            .list("tags", ["a", "b c", "d&e"])
            .opt("zone", Some("z1"))
            .opt("pool", None::<&str>);
        assert_eq!(
            f.to_urlencoded(),
            "erase=true&force=false&verbose=true&tags=a&tags=b+c&tags=d%26e&zone=z1"
        );
        assert_eq!(f.values("tags"), vec!["a", "b c", "d&e"]);
        assert_eq!(f.encoding(), Encoding::UrlEncoded);
    }

    #[test]
    fn user_data_forces_multipart_and_is_redacted() {
        let mut f = Form::new();
        f.text("distro_series", "jammy")
            .payload("user_data", "I2Nsb3VkLWNvbmZpZw==".into());
        assert_eq!(f.encoding(), Encoding::Multipart);
        let dbg = format!("{f:?}");
        assert!(dbg.contains("user_data=<redacted 20 bytes>"), "{dbg}");
        assert!(!dbg.contains("I2Nsb3Vk"), "{dbg}");
        assert!(dbg.contains("distro_series=\"jammy\""));

        let mut big = Form::new();
        big.text("x", "y".repeat(MULTIPART_THRESHOLD));
        assert_eq!(big.encoding(), Encoding::Multipart);
    }

    #[test]
    fn storage_encoding() {
        let disks = [
            StorageSpec::new(20.0).label("root").tag("ssd").tag("fast"),
            StorageSpec::new(100.0).label("data"),
            StorageSpec::new(7.5),
        ];
        assert_eq!(encode_storage(&disks), "root:20(ssd,fast),data:100,7.5");
        assert_eq!(encode_storage(&[]), "");
    }

    #[test]
    fn interfaces_encoding() {
        let ifaces = [
            InterfaceSpec::new("eth0")
                .with("space", "prod")
                .with("mode", "static"),
            InterfaceSpec::new("eth1").with("vid", "42"),
        ];
        assert_eq!(
            encode_interfaces(&ifaces),
            "eth0:space=prod,mode=static;eth1:vid=42"
        );
    }
}
