//! MAAS's name and key validators, with MAAS's texts (3.6.5): pure functions
//! over strings, shared by every handler that accepts a name.
//!
//! Python's regular expressions are reproduced by hand: `re.match` anchors at
//! the start only, `$` also matches before one trailing `\n`, and `\w` is
//! Unicode (`str.isalnum()` or `_`; approximated by `char::is_alphanumeric`,
//! which differs from Python only on a few combining marks).

use crate::model::pyfmt::repr_str;

/// Django's `MaxLengthValidator` / `CharField(max_length=…)` text.
pub(crate) fn max_length_text(max: usize, len: usize) -> String {
    format!("Ensure this value has at most {max} characters (it has {len}).")
}

/// `RegexValidator`'s default message.
pub(crate) const ENTER_A_VALID_VALUE: &str = "Enter a valid value.";
/// A required form field left empty.
pub(crate) const REQUIRED: &str = "This field is required.";

/// Length as Python counts it (code points).
pub(crate) fn py_len(s: &str) -> usize {
    s.chars().count()
}

/// Django's form `CharField` cleaning (`strip=True`).
pub(crate) fn form_strip(s: &str) -> &str {
    s.trim()
}

/// Python's `\w` on `str`.
fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// `s` with `$`'s allowance: the whole string, and the string without one
/// trailing newline.
fn dollar_candidates(s: &str) -> impl Iterator<Item = &str> {
    std::iter::once(s).chain(s.strip_suffix('\n'))
}

/// Owner data (workload annotation) keys: `OwnerData.DATA_KEY_RE =
/// [\w.-]+$` used with `re.match`. Keys failing it make
/// `set_owner_data` raise `ValueError("Invalid character in key name")`,
/// which MAAS answers with 500.
pub(crate) fn owner_data_key(key: &str) -> bool {
    dollar_candidates(key)
        .any(|s| !s.is_empty() && s.chars().all(|c| is_word(c) || c == '.' || c == '-'))
}

/// The text of the 500 for a bad owner data key.
pub(crate) const INVALID_KEY_NAME: &str = "Invalid character in key name";

/// `OwnerData.key = CharField(max_length=255)`.
pub(crate) const OWNER_DATA_KEY_MAX: usize = 255;

/// `Tag._tag_name_regex = ^[a-zA-Z0-9_-]+$`.
pub(crate) fn tag_name(name: &str) -> bool {
    dollar_candidates(name).any(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// `MODEL_NAME_VALIDATOR = ^\w[ \w-]*$` (zones, resource pools, fabrics,
/// VLANs).
pub(crate) fn model_name(name: &str) -> bool {
    dollar_candidates(name).any(|s| {
        let mut chars = s.chars();
        matches!(chars.next(), Some(c) if is_word(c))
            && chars.all(|c| is_word(c) || c == ' ' || c == '-')
    })
}

/// A name field as a `MAASModelForm` cleans it: required, `max_length`, then
/// the model's validator (`Enter a valid value.`). Returns the stripped name
/// or the field's one message. Uniqueness is the caller's.
pub(crate) fn form_name(
    raw: Option<&str>,
    max: usize,
    valid: fn(&str) -> bool,
) -> Result<&str, String> {
    let name = form_strip(raw.unwrap_or(""));
    if name.is_empty() {
        return Err(REQUIRED.to_string());
    }
    let len = py_len(name);
    if len > max {
        return Err(max_length_text(max, len));
    }
    if !valid(name) {
        return Err(ENTER_A_VALID_VALUE.to_string());
    }
    Ok(name)
}

/// A Django `forms.IntegerField` with bounds: absent or blank is `None`.
pub(crate) fn form_int(
    raw: Option<&str>,
    min: Option<i64>,
    max: Option<i64>,
) -> Result<Option<i64>, String> {
    let Some(v) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let n: i64 = v.parse().map_err(|_| "Enter a whole number.".to_string())?;
    if let Some(min) = min
        && n < min
    {
        return Err(format!(
            "Ensure this value is greater than or equal to {min}."
        ));
    }
    if let Some(max) = max
        && n > max
    {
        return Err(format!("Ensure this value is less than or equal to {max}."));
    }
    Ok(Some(n))
}

/// One DNS label of `LABEL = [a-zA-Z0-9]([-a-zA-Z0-9]{0,62}[a-zA-Z0-9]){0,1}`
/// (1 to 64 characters).
fn dns_label(l: &str) -> bool {
    let b = l.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `domain.NAMESPEC = (LABEL[.])*LABEL[.]?`, matched whole.
fn domain_namespec(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty() && s.split('.').all(dns_label)
}

/// `maasserver.utils.dns.validate_domain_name` (RFCs 952 and 1123).
fn rfc_domain_name(name: &str) -> Option<String> {
    if py_len(name) > 255 {
        return Some("Hostname is too long.  Maximum allowed is 255 characters.".to_string());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("DNS name contains an empty label.".to_string());
        }
        let len = py_len(label);
        if len > 63 {
            return Some(format!(
                "Label is too long: {}.  Maximum allowed is 63 characters.",
                repr_str(label)
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!(
                "Label cannot start or end with hyphen: {}.",
                repr_str(label)
            ));
        }
        // `[a-zA-Z0-9-]*$` with re.match: a trailing newline passes.
        let body = label.strip_suffix('\n').unwrap_or(label);
        if !body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Some(format!(
                "Label contains disallowed characters: {}.",
                repr_str(label)
            ));
        }
    }
    None
}

/// MAAS's internal domain (`maas_internal_domain` default).
pub(crate) const MAAS_INTERNAL_DOMAIN: &str = "maas-internal";

/// `Domain.name` as `DomainForm` cleans it: the value normalised as
/// `DomainNameField.to_python` does (stripped, trailing dots removed), or
/// every message of the field's validators (`models.domain`'s, then
/// `utils.dns`'s). Uniqueness is the caller's.
pub(crate) fn domain_name(raw: Option<&str>) -> Result<String, Vec<String>> {
    let form = form_strip(raw.unwrap_or(""));
    if form.is_empty() {
        return Err(vec![REQUIRED.to_string()]);
    }
    let len = py_len(form);
    if len > 256 {
        return Err(vec![max_length_text(256, len)]);
    }
    let value = form.trim().trim_end_matches('.');
    if value.is_empty() {
        return Err(vec!["This field cannot be blank.".to_string()]);
    }
    let mut errors = Vec::new();
    if py_len(value) > 255 {
        errors.push("Domain name length cannot exceed 255 characters.".to_string());
    } else if !dollar_candidates(value).any(domain_namespec) {
        let disallowed = value
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'));
        errors.push(if disallowed {
            "Domain name contains invalid characters.".to_string()
        } else {
            format!("Invalid domain name: {value}.")
        });
    } else if value == MAAS_INTERNAL_DOMAIN {
        errors.push("Domain name cannot duplicate maas internal domain name.".to_string());
    }
    errors.extend(rfc_domain_name(value));
    if errors.is_empty() {
        Ok(value.to_string())
    } else {
        Err(errors)
    }
}

/// `maasserver.utils.dns.validate_hostname` (the node's `hostname` field, a
/// name that may carry a domain).
pub(crate) fn hostname(name: &str) -> Option<String> {
    if py_len(name) > 255 {
        return Some("Hostname is too long.  Maximum allowed is 255 characters.".to_string());
    }
    let host = name.split('.').next().unwrap_or("");
    if host.contains('_') {
        return Some(format!(
            "Host label cannot contain underscore: {}.",
            repr_str(host)
        ));
    }
    rfc_domain_name(name)
}

/// `dnsresource.SPECIAL_NAMES`.
pub(crate) const SPECIAL_DNS_NAMES: [&str; 3] = ["", "@", "*"];

/// `validate_dnsresource_name(value, "A")`: a single label, or a special
/// name. The error text is `Invalid dnsresource name: <value>.`
pub(crate) fn dnsresource_name(name: &str) -> Result<(), String> {
    if SPECIAL_DNS_NAMES.contains(&name) || dollar_candidates(name).any(dns_label) {
        Ok(())
    } else {
        Err(format!("Invalid dnsresource name: {name}."))
    }
}

/// How `separate_fqdn(fqdn, "A")` splits an fqdn when no domain has that
/// exact name: `^(?P<name>LABEL).(?P<domain>NAMESPEC)$` — note the
/// unescaped `.`, which matches any character but a newline, and the greedy
/// label, so `bad_name.example.com` splits as (`bad`, `name.example.com`).
/// `None` when nothing matches (MAAS then fails with a 500).
pub(crate) fn split_fqdn(fqdn: &str) -> Option<(String, String)> {
    let chars: Vec<(usize, char)> = fqdn.char_indices().collect();
    // Label lengths from the longest down, as the regex backtracks.
    let max = chars.len().min(64);
    for k in (1..=max).rev() {
        let end = chars.get(k).map(|(i, _)| *i).unwrap_or(fqdn.len());
        let name = &fqdn[..end];
        if !dns_label(name) {
            continue;
        }
        let Some((sep_at, sep)) = chars.get(k).copied() else {
            continue;
        };
        if sep == '\n' {
            continue;
        }
        let rest = &fqdn[sep_at + sep.len_utf8()..];
        for domain in dollar_candidates(rest) {
            if domain_namespec(domain) {
                return Some((name.to_string(), domain.to_string()));
            }
        }
    }
    None
}

/// `models.domain.validate_domain_name`, the validator `DNSData.clean`
/// applies to MX and SRV targets and NS data: its one message, or `None`.
pub(crate) fn model_domain_name(value: &str) -> Option<String> {
    if py_len(value) > 255 {
        return Some("Domain name length cannot exceed 255 characters.".to_string());
    }
    if !dollar_candidates(value).any(domain_namespec) {
        let disallowed = value
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'));
        return Some(if disallowed {
            "Domain name contains invalid characters.".to_string()
        } else {
            format!("Invalid domain name: {value}.")
        });
    }
    (value == MAAS_INTERNAL_DOMAIN)
        .then(|| "Domain name cannot duplicate maas internal domain name.".to_string())
}

/// `_` followed by a [`dns_label`]: `SRV_LABEL`.
fn srv_label(l: &str) -> bool {
    l.strip_prefix('_').is_some_and(dns_label)
}

/// Label lengths at the start of `s`, longest first (how the greedy
/// `LABEL` backtracks), for which `ok` holds.
fn prefixes(s: &str, ok: fn(&str) -> bool, max: usize) -> Vec<(&str, &str)> {
    let ends: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .skip(1)
        .chain(std::iter::once(s.len()))
        .take(max)
        .collect();
    ends.into_iter()
        .rev()
        .filter(|e| ok(&s[..*e]))
        .map(|e| (&s[..e], &s[e..]))
        .collect()
}

/// One character that the regex's unescaped `.` matches (not a newline).
fn any_char(s: &str) -> Option<&str> {
    let c = s.chars().next()?;
    (c != '\n').then(|| &s[c.len_utf8()..])
}

/// `separate_fqdn(fqdn, "SRV")` when no domain has that exact name:
/// `^(?P<name>SRV_LHS).(?P<domain>NAMESPEC)$` with `SRV_LHS =
/// SRV_LABEL.SRV_LABEL(.LABEL)?` (unescaped dots: any character), tried in
/// the regex's backtracking order. `None` when nothing matches.
pub(crate) fn split_srv_fqdn(fqdn: &str) -> Option<(String, String)> {
    fn domain_ok(rest: &str) -> Option<&str> {
        dollar_candidates(rest).find(|d| domain_namespec(d))
    }
    for (_, r1) in prefixes(fqdn, srv_label, 65) {
        let Some(r1) = any_char(r1) else { continue };
        for (_, r2) in prefixes(r1, srv_label, 65) {
            let name_len = |rest: &str| fqdn.len() - rest.len();
            // The optional `(.LABEL)?` is tried present first.
            if let Some(r2b) = any_char(r2) {
                for (_, r3) in prefixes(r2b, dns_label, 64) {
                    if let Some(r4) = any_char(r3)
                        && let Some(d) = domain_ok(r4)
                    {
                        return Some((fqdn[..name_len(r3)].to_string(), d.to_string()));
                    }
                }
            }
            if let Some(r4) = any_char(r2)
                && let Some(d) = domain_ok(r4)
            {
                return Some((fqdn[..name_len(r2)].to_string(), d.to_string()));
            }
        }
    }
    None
}

/// A tag definition as `TagForm.clean_definition` checks it with lxml's
/// `etree.XPath`: empty is fine; otherwise the simulator finds the syntax
/// errors a hand-written definition usually has — an unterminated string
/// literal (libxml2: `Unfinished literal`) and unbalanced brackets or
/// parentheses (`Invalid expression`) — not every XPath error.
pub(crate) fn tag_definition(definition: &str) -> Result<(), String> {
    let mut stack = Vec::new();
    let mut chars = definition.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' if !chars.by_ref().any(|d| d == c) => {
                return Err("Invalid xpath expression: Unfinished literal".into());
            }
            '[' | '(' => stack.push(c),
            ']' | ')' => {
                let open = if c == ']' { '[' } else { '(' };
                if stack.pop() != Some(open) {
                    return Err("Invalid xpath expression: Invalid expression".into());
                }
            }
            _ => {}
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err("Invalid xpath expression: Invalid expression".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_data_keys_follow_data_key_re() {
        for ok in ["capmaas.io.owner", "a-b_c.d", "é", "ключ", "ab\n", "123"] {
            assert!(owner_data_key(ok), "{ok:?}");
        }
        for bad in ["capmaas.io/owner", "a b", "", "k=v", "a\nb", "\n", "x:y"] {
            assert!(!owner_data_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn model_and_tag_names() {
        assert!(model_name("simh x"));
        assert!(model_name("zone_é"));
        assert!(!model_name("-zone"));
        assert!(!model_name(" zone"));
        assert!(!model_name("a.b"));
        assert!(tag_name("-tag_1"));
        assert!(!tag_name("tag é"));
        assert!(!tag_name("a.b"));
        assert_eq!(form_name(Some("  x  "), 256, tag_name), Ok("x"));
        assert_eq!(form_name(Some(""), 256, tag_name), Err(REQUIRED.into()));
        assert_eq!(
            form_name(Some(&"a".repeat(257)), 256, tag_name),
            Err("Ensure this value has at most 256 characters (it has 257).".into())
        );
        assert_eq!(
            form_name(Some("a/b"), 256, model_name),
            Err(ENTER_A_VALID_VALUE.into())
        );
    }

    #[test]
    fn domain_names_as_maas_reports_them() {
        assert_eq!(domain_name(Some("simh.x.")), Ok("simh.x".into()));
        assert_eq!(domain_name(Some("Simh-X")), Ok("Simh-X".into()));
        assert_eq!(
            domain_name(Some("bad name")),
            Err(vec![
                "Domain name contains invalid characters.".into(),
                "Label contains disallowed characters: 'bad name'.".into()
            ])
        );
        assert_eq!(
            domain_name(Some("simh-.x")),
            Err(vec![
                "Invalid domain name: simh-.x.".into(),
                "Label cannot start or end with hyphen: 'simh-'.".into()
            ])
        );
        assert_eq!(
            domain_name(Some("simh..x")),
            Err(vec![
                "Invalid domain name: simh..x.".into(),
                "DNS name contains an empty label.".into()
            ])
        );
        let long = format!("{}.simh", "a".repeat(64));
        assert_eq!(
            domain_name(Some(&long)),
            Err(vec![format!(
                "Label is too long: '{}'.  Maximum allowed is 63 characters.",
                "a".repeat(64)
            )])
        );
    }

    #[test]
    fn tag_definitions() {
        assert_eq!(tag_definition(""), Ok(()));
        assert_eq!(
            tag_definition("//node[@id='display']/'clock units=\"Hz\"' > 1"),
            Ok(())
        );
        for (bad, msg) in [
            ("//node[", "Invalid expression"),
            ("//node)", "Invalid expression"),
            ("//node[@id=\"x]", "Unfinished literal"),
        ] {
            assert_eq!(
                tag_definition(bad),
                Err(format!("Invalid xpath expression: {msg}"))
            );
        }
    }

    #[test]
    fn hostnames() {
        assert_eq!(hostname("simh-2.maas"), None);
        assert_eq!(
            hostname("simh_2"),
            Some("Host label cannot contain underscore: 'simh_2'.".into())
        );
        assert_eq!(
            hostname("simh bad"),
            Some("Label contains disallowed characters: 'simh bad'.".into())
        );
        assert_eq!(
            hostname("simh-2-"),
            Some("Label cannot start or end with hyphen: 'simh-2-'.".into())
        );
    }

    #[test]
    fn fqdn_split_follows_the_unescaped_dot() {
        let s = |f: &str| split_fqdn(f).map(|(a, b)| format!("{a}|{b}"));
        assert_eq!(s("host.example.com").as_deref(), Some("host|example.com"));
        assert_eq!(
            s("bad_name.simh.test").as_deref(),
            Some("bad|name.simh.test")
        );
        assert_eq!(s("nodots").as_deref(), Some("nodo|s"));
        assert_eq!(s("a.b").as_deref(), Some("a|b"));
        assert_eq!(s("ab"), None);
        assert_eq!(s("_x._y"), None);
        assert!(dnsresource_name("ok-1").is_ok());
        assert!(dnsresource_name("@").is_ok());
        assert_eq!(
            dnsresource_name("_srv"),
            Err("Invalid dnsresource name: _srv.".into())
        );
    }
}
