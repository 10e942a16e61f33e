//! Deterministic randomness: system ids, petname hostnames, MACs, UUIDs and
//! API key parts, all drawn from one seeded generator so that a `--seed`
//! reproduces the same inventory and ids.

/// SplitMix64: small, fast, and stable across platforms and crate versions.
#[derive(Debug, Clone)]
pub(crate) struct SimRng {
    state: u64,
}

impl SimRng {
    pub(crate) fn new(seed: u64) -> Self {
        SimRng {
            state: seed ^ 0x5DEE_CE66_D1CE_4E5B,
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`; `lo` when the range is empty.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo)
    }

    /// True with probability `num/den`.
    pub(crate) fn chance(&mut self, num: u64, den: u64) -> bool {
        den > 0 && self.next_u64() % den < num
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            let i = self.range(0, items.len() as u64) as usize;
            items.get(i)
        }
    }
}

/// MAAS's "z number" alphabet (24 unambiguous characters).
const ZCHARS: &[u8; 24] = b"34678abcdefghkmnpqrstwxy";

/// Render `num` in MAAS's base-24 alphabet.
pub(crate) fn znum(mut num: u64) -> String {
    if num == 0 {
        return (ZCHARS[0] as char).to_string();
    }
    let mut out = Vec::new();
    while num > 0 {
        out.push(ZCHARS[(num % 24) as usize]);
        num /= 24;
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// A random six-character system id (numbers in `[24^5, 24^6)`).
pub(crate) fn system_id(rng: &mut SimRng) -> String {
    const LO: u64 = 24u64.pow(5);
    const HI: u64 = 24u64.pow(6);
    znum(rng.range(LO, HI))
}

const ADJECTIVES: &[&str] = &[
    "able", "agile", "alert", "amber", "ample", "apt", "arctic", "awake", "bold", "brave",
    "breezy", "bright", "brisk", "broad", "busy", "calm", "candid", "careful", "casual", "causal",
    "cheery", "chief", "civil", "clean", "clear", "clever", "close", "cosmic", "cozy", "crisp",
    "curious", "daring", "deep", "deft", "direct", "divine", "dry", "eager", "early", "easy",
    "electric", "elegant", "epic", "equal", "exact", "fair", "famous", "fancy", "fast", "fine",
    "firm", "first", "fit", "fluent", "fond", "formal", "fresh", "frank", "full", "funny",
    "gentle", "giving", "glad", "golden", "good", "grand", "great", "happy", "hardy", "hearty",
    "helpful", "heroic", "honest", "humble", "ideal", "immune", "jolly", "joyful", "just", "keen",
    "kind", "large", "lasting", "lively", "living", "logical", "loyal", "lucid", "lucky",
    "magical", "major", "mellow", "merry", "mighty", "modern", "modest", "moral", "native", "neat",
    "nice", "nimble", "noble", "novel", "open", "optimal", "patient", "perfect", "placid",
    "pleasant", "polite", "popular", "precise", "prime", "proper", "proud", "quick", "quiet",
    "rapid", "rare", "ready", "real", "regal", "renewed", "robust", "rosy", "rugged", "safe",
    "sage", "secure", "serene", "sharp", "shining", "simple", "sincere", "smart", "smooth",
    "social", "solid", "sound", "sparkly", "special", "splendid", "stable", "steady", "still",
    "strong", "sunny", "super", "sure", "swift", "tender", "thorough", "tidy", "topical", "tough",
    "true", "trusty", "unique", "upward", "useful", "valid", "vast", "verified", "vital", "vocal",
    "warm", "wealthy", "welcome", "wise", "witty", "worthy", "young", "zealous",
];

const ANIMALS: &[&str] = &[
    "aardvark", "adder", "alpaca", "anchovy", "ant", "antelope", "ape", "baboon", "badger",
    "barnacle", "bat", "beagle", "bear", "beaver", "bee", "beetle", "bison", "boar", "bobcat",
    "buffalo", "bull", "bunny", "camel", "caribou", "cat", "cattle", "cheetah", "chicken", "chimp",
    "chipmunk", "civet", "clam", "cobra", "cod", "colt", "condor", "coral", "cougar", "cow",
    "coyote", "crab", "crane", "crow", "cub", "deer", "dingo", "dodo", "dog", "dolphin", "donkey",
    "dove", "drake", "duck", "eagle", "eel", "egret", "eland", "elk", "emu", "falcon", "ferret",
    "finch", "fish", "flamingo", "fly", "foal", "fox", "frog", "gazelle", "gecko", "gibbon",
    "giraffe", "gnat", "gnu", "goat", "goose", "gopher", "gorilla", "grouse", "gull", "hare",
    "hawk", "hen", "heron", "hippo", "hog", "horse", "hound", "hyena", "ibex", "ibis", "iguana",
    "impala", "jackal", "jaguar", "jay", "kid", "kingfish", "kit", "kite", "kiwi", "koala",
    "krill", "lamb", "lark", "lemming", "lemur", "leopard", "lion", "lizard", "llama", "lobster",
    "locust", "loon", "lynx", "macaw", "magpie", "mallard", "manatee", "mantis", "marlin",
    "marmot", "mink", "mole", "monkey", "moose", "mouse", "mule", "newt", "ocelot", "octopus",
    "oriole", "oryx", "osprey", "otter", "owl", "ox", "oyster", "panda", "panther", "parrot",
    "pelican", "penguin", "pheasant", "pig", "pigeon", "pika", "pony", "poodle", "porpoise",
    "possum", "puffin", "puma", "quagga", "quail", "rabbit", "raccoon", "ram", "raven", "redbird",
    "reindeer", "rhino", "robin", "salmon", "seal", "shark", "sheep", "shrew", "skink", "skunk",
    "sloth", "snail", "snake", "snipe", "sparrow", "squid", "stag", "stork", "swan", "tapir",
    "termite", "tern", "tiger", "toad", "trout", "turkey", "turtle", "viper", "vulture", "wahoo",
    "walrus", "wasp", "weasel", "whale", "wolf", "wombat", "wren", "yak", "zebra",
];

/// A two-word petname such as `causal-quagga`.
pub(crate) fn petname(rng: &mut SimRng) -> String {
    let adj = rng.pick(ADJECTIVES).copied().unwrap_or("able");
    let animal = rng.pick(ANIMALS).copied().unwrap_or("ant");
    format!("{adj}-{animal}")
}

/// A petname not accepted by `taken`; falls back to a numeric suffix when
/// the word space gets crowded.
pub(crate) fn unique_petname(rng: &mut SimRng, taken: impl Fn(&str) -> bool) -> String {
    for _ in 0..64 {
        let name = petname(rng);
        if !taken(&name) {
            return name;
        }
    }
    let base = petname(rng);
    let mut n = 2u64;
    loop {
        let name = format!("{base}-{n}");
        if !taken(&name) {
            return name;
        }
        n += 1;
    }
}

/// A locally administered unicast MAC address.
pub(crate) fn mac(rng: &mut SimRng) -> String {
    let v = rng.next_u64();
    let b = v.to_be_bytes();
    format!("52:54:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5])
}

/// A random (v4-shaped) UUID.
pub(crate) fn uuid(rng: &mut SimRng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

/// The alphabet MAAS (Django's random password) draws API key parts from:
/// a–z, A–Z, 2–9 without look-alike characters.
const KEY_CHARS: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A random key part of `len` characters from MAAS's alphabet.
pub(crate) fn key_part(rng: &mut SimRng, len: usize) -> String {
    (0..len)
        .map(|_| KEY_CHARS[rng.range(0, KEY_CHARS.len() as u64) as usize] as char)
        .collect()
}

/// A fresh `consumer:token:secret` API key (18, 18 and 32 characters).
pub(crate) fn api_key(rng: &mut SimRng) -> String {
    format!(
        "{}:{}:{}",
        key_part(rng, 18),
        key_part(rng, 18),
        key_part(rng, 32)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn znum_matches_maas_alphabet() {
        assert_eq!(znum(0), "3");
        assert_eq!(znum(23), "y");
        assert_eq!(znum(24), "43");
        let mut rng = SimRng::new(7);
        for _ in 0..100 {
            let id = system_id(&mut rng);
            assert_eq!(id.len(), 6, "{id}");
            assert!(id.bytes().all(|c| ZCHARS.contains(&c)));
        }
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SimRng::new(42);
        let mut b = SimRng::new(42);
        assert_eq!(petname(&mut a), petname(&mut b));
        assert_eq!(system_id(&mut a), system_id(&mut b));
        let mut c = SimRng::new(43);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_ne!(xs, ys);
    }

    #[test]
    fn api_key_shape() {
        let mut rng = SimRng::new(1);
        let key = api_key(&mut rng);
        let parts: Vec<&str> = key.split(':').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![18, 18, 32]
        );
        assert!(key.bytes().all(|c| c == b':' || KEY_CHARS.contains(&c)));
    }

    #[test]
    fn unique_petname_avoids_taken() {
        let mut rng = SimRng::new(3);
        let name = unique_petname(&mut rng, |n| !n.ends_with("-2"));
        assert!(name.ends_with("-2"));
    }
}
