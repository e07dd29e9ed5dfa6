//! `trove-bench search`: the local search index over synthetic manifests. Builds the index
//! from `--shares` manifests totalling `--items` items (file names of 2–5 words from a fixed
//! vocabulary with a skewed word frequency, separators, case styles, years and episode tags,
//! extensions, folder paths, tags, mimes), reopens it, then times queries of each kind
//! against names that exist: 1, 2 and 3 words, a typed prefix, and a word plus a typed
//! prefix. Prints build time, items/s, index size, open time, query percentiles, the time
//! `index_share` takes for one more share of 100,000 items (fewer if `--items` is smaller),
//! and peak RSS of the build and of the query phase.
//! Query latency is wall time; `*_cpu_*` is the querying thread's CPU time, which other
//! processes on a shared machine do not inflate.

use crate::report::{emit, peak_rss_mib};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;
use trove_proto::wire::{Item, Manifest, Visibility};
use trove_proto::{ContentId, PubKey, ShareId};
use trove_store::search::{OpenState, SearchIndex, SearchQuery, ShareMeta};

/// Real words, a few with diacritics, ahead of the generated ones.
const BASE_WORDS: &[&str] = &[
    "the",
    "live",
    "concert",
    "holiday",
    "summer",
    "winter",
    "family",
    "photos",
    "ubuntu",
    "server",
    "desktop",
    "linux",
    "debian",
    "kernel",
    "release",
    "notes",
    "report",
    "final",
    "draft",
    "backup",
    "music",
    "album",
    "track",
    "remix",
    "edition",
    "deluxe",
    "remastered",
    "original",
    "soundtrack",
    "episode",
    "season",
    "movie",
    "documentary",
    "lecture",
    "course",
    "chapter",
    "book",
    "novel",
    "manual",
    "guide",
    "tutorial",
    "recipe",
    "garden",
    "travel",
    "paris",
    "london",
    "tokyo",
    "berlin",
    "river",
    "mountain",
    "ocean",
    "forest",
    "city",
    "night",
    "morning",
    "party",
    "wedding",
    "birthday",
    "school",
    "project",
    "design",
    "invoice",
    "budget",
    "meeting",
    "slides",
    "presentation",
    "video",
    "audio",
    "image",
    "scan",
    "archive",
    "data",
    "dataset",
    "source",
    "build",
    "test",
    "sample",
    "demo",
    "trailer",
    "interview",
    "podcast",
    "radio",
    "news",
    "history",
    "science",
    "nature",
    "space",
    "planet",
    "galaxy",
    "jazz",
    "blues",
    "rock",
    "classical",
    "piano",
    "guitar",
    "violin",
    "orchestra",
    "symphony",
    "opera",
    "ballet",
    "theatre",
    "comedy",
    "drama",
    "thriller",
    "horror",
    "café",
    "résumé",
    "naïve",
    "über",
    "señor",
    "façade",
    "crème",
    "brûlée",
    "déjà",
    "vu",
    "smörgåsbord",
    "zürich",
    "münchen",
    "kraków",
    "são",
    "paulo",
    "año",
    "niño",
    "piñata",
    "fiancé",
];
/// Vocabulary size (base words plus generated ones).
const VOCABULARY: usize = 5000;
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "ten", "vo", "shi", "an", "dor", "el", "fi", "gru", "hal", "in", "jo", "ku", "lem", "mor",
    "nu", "os", "pe", "qui", "ros", "sa", "tor", "ul", "ven", "wi", "xa", "yo", "zen", "bar", "cel",
];
const EXTENSIONS: &[(&str, Option<&str>)] = &[
    ("mp4", Some("video/mp4")),
    ("mkv", Some("video/x-matroska")),
    ("avi", None),
    ("mp3", Some("audio/mpeg")),
    ("flac", Some("audio/flac")),
    ("ogg", None),
    ("jpg", Some("image/jpeg")),
    ("png", Some("image/png")),
    ("pdf", Some("application/pdf")),
    ("epub", Some("application/epub+zip")),
    ("txt", Some("text/plain")),
    ("srt", None),
    ("iso", Some("application/x-iso9660-image")),
    ("zip", Some("application/zip")),
    ("docx", None),
];
/// Names kept to draw queries from.
const SAMPLE_NAMES: usize = 4000;
/// Queries run before timing each kind.
const WARMUP: usize = 30;
/// Items of the single large share re-indexed at the end.
const BIG_SHARE_ITEMS: usize = 100_000;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for c in b.chunks_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        b
    }
}

/// The synthetic world: vocabulary, and a sample of generated names for queries.
struct Corpus {
    words: Vec<String>,
    rng: Rng,
    sample: Vec<Vec<String>>,
    seen: usize,
}

impl Corpus {
    fn new(seed: u64) -> Corpus {
        let mut rng = Rng(seed);
        let mut words: Vec<String> = BASE_WORDS.iter().map(|w| w.to_string()).collect();
        let mut known: std::collections::HashSet<String> = words.iter().cloned().collect();
        while words.len() < VOCABULARY {
            let n = 2 + rng.below(3);
            let w: String = (0..n).map(|_| SYLLABLES[rng.below(SYLLABLES.len())]).collect();
            if known.insert(w.clone()) {
                words.push(w);
            }
        }
        Corpus { words, rng: Rng(seed ^ 0x5eed), sample: Vec::new(), seen: 0 }
    }

    /// A word, skewed towards the first ones (rank = V·u²: the top 10 words make ~4%).
    fn word(&mut self) -> String {
        let u = self.rng.unit();
        let i = ((self.words.len() as f64) * u * u) as usize;
        self.words[i.min(self.words.len() - 1)].clone()
    }

    fn styled(&mut self, words: &[String]) -> String {
        let sep = [" ", "_", "-", ".", " "][self.rng.below(5)];
        match self.rng.below(4) {
            0 => words.join(sep),
            1 => words.iter().map(|w| title_case(w)).collect::<Vec<_>>().join(sep),
            2 => words.iter().map(|w| title_case(w)).collect::<String>(),
            _ => words.iter().map(|w| w.to_uppercase()).collect::<Vec<_>>().join(sep),
        }
    }

    fn item(&mut self) -> Item {
        let n = 2 + self.rng.below(4);
        let words: Vec<String> = (0..n).map(|_| self.word()).collect();
        let mut name = self.styled(&words);
        match self.rng.below(6) {
            0 => name.push_str(&format!(" {}", 1950 + self.rng.below(75))),
            1 => name.push_str(&format!(" S{:02}E{:02}", 1 + self.rng.below(9), 1 + self.rng.below(24))),
            2 => name.push_str(&format!(" ({})", 1 + self.rng.below(99))),
            _ => {}
        }
        let (ext, mime) = EXTENSIONS[self.rng.below(EXTENSIONS.len())];
        name.push('.');
        name.push_str(ext);
        self.remember(words);
        let dirs = 1 + self.rng.below(2);
        let mut path: Vec<String> = (0..dirs).map(|_| title_case(&self.word())).collect();
        path.push(name.clone());
        let tags = (0..self.rng.below(4)).map(|_| self.word()).collect();
        let size = (1024.0 * 4_000_000f64.powf(self.rng.unit())) as u64;
        Item {
            content_id: ContentId(self.rng.bytes32()),
            size,
            name,
            path: Some(path.join("/")),
            mime: mime.map(str::to_string),
            tags,
            chunk_count: size.div_ceil(262_144) as u32,
            chunk_list_hash: [0; 32],
        }
    }

    /// Reservoir sample of generated names (as word lists) to query for.
    fn remember(&mut self, words: Vec<String>) {
        self.seen += 1;
        if self.sample.len() < SAMPLE_NAMES {
            self.sample.push(words);
        } else {
            let j = self.rng.below(self.seen);
            if j < SAMPLE_NAMES {
                self.sample[j] = words;
            }
        }
    }

    fn share(&mut self, n: usize, items: usize) -> (ShareMeta, Manifest) {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(n as u64 + 1).to_be_bytes());
        let share_id = ShareId(id);
        let title = format!("{} {} collection", title_case(&self.word()), self.word());
        let description = (0..8).map(|_| self.word()).collect::<Vec<_>>().join(" ");
        let meta = ShareMeta {
            title: Some(title.clone()),
            description: Some(description.clone()),
            weight: [1.0, 1.0, 1.0, 2.0, 0.5][n % 5],
            ..ShareMeta::new(share_id)
        };
        let manifest = Manifest {
            version: 1,
            share_pubkey: PubKey([0; 32]),
            share_id,
            seq: 1,
            created_at: 1_700_000_000,
            expires_at: None,
            title: Some(title),
            description: Some(description),
            visibility: Visibility::Public,
            communities: Vec::new(),
            items: (0..items).map(|_| self.item()).collect(),
            recommended_shares: Vec::new(),
            signature: None,
        };
        (meta, manifest)
    }

    /// A query of the given kind, from a sampled name.
    fn query(&mut self, kind: Kind) -> String {
        let name = self.sample[self.rng.below(self.sample.len())].clone();
        let start = |rng: &mut Rng, k: usize| rng.below(name.len().saturating_sub(k) + 1);
        match kind {
            Kind::OneWord => name[self.rng.below(name.len())].clone(),
            Kind::TwoWords | Kind::ThreeWords => {
                let k = if kind == Kind::TwoWords { 2 } else { 3 }.min(name.len());
                let s = start(&mut self.rng, k);
                name[s..s + k].join(" ")
            }
            Kind::Prefix => typed(&name[self.rng.below(name.len())], 3),
            Kind::WordPrefix => {
                let s = start(&mut self.rng, 2);
                format!("{} {}", name[s], typed(&name[(s + 1).min(name.len() - 1)], 3))
            }
        }
    }
}

fn title_case(w: &str) -> String {
    let mut c = w.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// The first `n` characters of a word, as typed.
fn typed(w: &str, n: usize) -> String {
    w.chars().take(n).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    OneWord,
    TwoWords,
    ThreeWords,
    Prefix,
    WordPrefix,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::OneWord => "1word",
            Kind::TwoWords => "2words",
            Kind::ThreeWords => "3words",
            Kind::Prefix => "prefix",
            Kind::WordPrefix => "word_prefix",
        }
    }
}

/// Segments in the index directory (files `<segment id>.idx`; merged-away segments linger
/// until tantivy's next garbage collection).
fn segment_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "idx")).count())
        .unwrap_or(0)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// Current resident set size in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .map_or(0.0, |kib: f64| kib / 1024.0)
}

/// CPU time of this thread in milliseconds (unaffected by other processes on the machine).
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

/// Resets the peak RSS counter (Linux: writing 5 to clear_refs).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the benchmark.
pub fn run(items: usize, shares: usize, queries: usize) -> anyhow::Result<()> {
    anyhow::ensure!(items > 0 && shares > 0 && shares <= items, "need 0 < shares <= items");
    let ctx = json!({"items": items, "shares": shares});
    let dir: PathBuf = std::env::temp_dir().join(format!("trove-bench-search-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = measure(&dir, items, shares, queries, &ctx);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(dir: &Path, items: usize, shares: usize, queries: usize, ctx: &serde_json::Value) -> anyhow::Result<()> {
    let mut corpus = Corpus::new(0x7207e);
    let (index, state) = SearchIndex::open(dir)?;
    anyhow::ensure!(state == OpenState::Created, "expected a fresh index, got {state:?}");

    // Build: one rebuild over lazily generated manifests (generation time included, and
    // reported separately).
    let mut gen_secs = 0.0;
    let start = Instant::now();
    let per_share = items / shares;
    let generated = (0..shares).map(|n| {
        let t = Instant::now();
        let count = per_share + usize::from(n < items % shares);
        let s = corpus.share(n, count);
        gen_secs += t.elapsed().as_secs_f64();
        s
    });
    let docs = index.rebuild(generated)?;
    let build = start.elapsed().as_secs_f64();
    anyhow::ensure!(docs == items as u64, "indexed {docs} documents, expected {items}");
    emit("search", "build_seconds", build, "s", ctx.clone());
    emit("search", "generate_seconds", gen_secs, "s", ctx.clone());
    emit("search", "build_items_per_s", items as f64 / build, "items/s", ctx.clone());
    emit("search", "peak_rss_build", peak_rss_mib(), "MiB", ctx.clone());
    drop(index);

    // Reopen, as a node does at start (includes checksum validation).
    reset_peak_rss();
    let start = Instant::now();
    let (index, state) = SearchIndex::open(dir)?;
    emit("search", "open_seconds", start.elapsed().as_secs_f64(), "s", ctx.clone());
    anyhow::ensure!(state == OpenState::Opened, "reopen gave {state:?}");
    emit("search", "index_size", dir_size(dir) as f64 / (1024.0 * 1024.0), "MiB", ctx.clone());
    emit("search", "segment_files", segment_files(dir) as f64, "files", ctx.clone());

    for kind in [Kind::OneWord, Kind::TwoWords, Kind::ThreeWords, Kind::Prefix, Kind::WordPrefix] {
        let texts: Vec<String> = (0..WARMUP + queries).map(|_| corpus.query(kind)).collect();
        let mut wall = Vec::with_capacity(queries);
        let mut cpu = Vec::with_capacity(queries);
        let mut matches = 0usize;
        for (i, t) in texts.iter().enumerate() {
            let q = SearchQuery::text(t.as_str());
            let (start, cpu_start) = (Instant::now(), thread_cpu_ms());
            let r = index.search(&q)?;
            let (ms, cpu_ms) = (start.elapsed().as_secs_f64() * 1000.0, thread_cpu_ms() - cpu_start);
            if i >= WARMUP {
                wall.push(ms);
                cpu.push(cpu_ms);
                matches += r.total;
            }
        }
        wall.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        let mut extra = ctx.clone();
        extra["kind"] = json!(kind.name());
        extra["queries"] = json!(queries);
        extra["mean_matches"] = json!(matches / queries.max(1));
        for (p, label) in [(0.50, "p50"), (0.95, "p95"), (0.99, "p99")] {
            emit("search", &format!("query_{}_{label}", kind.name()), percentile(&wall, p), "ms", extra.clone());
        }
        for (p, label) in [(0.50, "p50"), (0.95, "p95")] {
            emit("search", &format!("query_{}_cpu_{label}", kind.name()), percentile(&cpu, p), "ms", extra.clone());
        }
    }
    emit("search", "rss_query", rss_mib(), "MiB", ctx.clone());
    emit("search", "peak_rss_query", peak_rss_mib(), "MiB", ctx.clone());

    // Indexing one large share (a new 100,000-item share, then removing it).
    let big = BIG_SHARE_ITEMS.min(items);
    let (meta, manifest) = corpus.share(shares + 1, big);
    let start = Instant::now();
    index.index_share(&meta, &manifest)?;
    let mut extra = ctx.clone();
    extra["share_items"] = json!(big);
    emit("search", "index_share_seconds", start.elapsed().as_secs_f64(), "s", extra);
    index.remove_share(&meta.share_id)?;
    emit("search", "peak_rss", peak_rss_mib(), "MiB", ctx.clone());
    Ok(())
}
