//! The search index against real index directories in temporary directories: ranking tiers,
//! the query language (AND, prefix, phrases, diacritics), trust/share/mime/size filters,
//! blocklists, pagination, re-indexing and removal, rebuild and recovery from damaged
//! directories, and hostile query strings.

use proptest::prelude::*;
use std::path::Path;
use trove_proto::wire::{BlocklistRules, Item, Manifest, Visibility};
use trove_proto::{ContentId, PubKey, ShareId};
use trove_store::StoreError;
use trove_store::db::Trust;
use trove_store::search::{OpenState, SearchIndex, SearchQuery, SearchResults, ShareMeta};

fn sid(n: u8) -> ShareId {
    ShareId([n; 32])
}

fn cid(s: &str) -> ContentId {
    ContentId(*blake3::hash(s.as_bytes()).as_bytes())
}

/// An item whose content id is derived from its name (or from `content` when given).
struct It<'a> {
    name: &'a str,
    path: Option<&'a str>,
    tags: &'a [&'a str],
    mime: Option<&'a str>,
    size: u64,
    content: Option<&'a str>,
}

fn it(name: &str) -> It<'_> {
    It { name, path: None, tags: &[], mime: None, size: 1000, content: None }
}

impl It<'_> {
    fn item(&self) -> Item {
        Item {
            content_id: cid(self.content.unwrap_or(self.name)),
            size: self.size,
            name: self.name.to_string(),
            path: self.path.map(str::to_string),
            mime: self.mime.map(str::to_string),
            tags: self.tags.iter().map(|t| t.to_string()).collect(),
            chunk_count: 1,
            chunk_list_hash: [0; 32],
        }
    }
}

fn manifest(share: ShareId, seq: u64, items: &[It<'_>]) -> Manifest {
    Manifest {
        version: 1,
        share_pubkey: PubKey([0; 32]),
        share_id: share,
        seq,
        created_at: 1_700_000_000,
        expires_at: None,
        title: None,
        description: None,
        visibility: Visibility::Private,
        communities: Vec::new(),
        items: items.iter().map(It::item).collect(),
        recommended_shares: Vec::new(),
        signature: None,
    }
}

fn meta(n: u8) -> ShareMeta {
    ShareMeta::new(sid(n))
}

fn open(dir: &Path) -> SearchIndex {
    let (index, _) = SearchIndex::open(dir).unwrap();
    index
}

fn find(index: &SearchIndex, q: SearchQuery) -> SearchResults {
    index.search(&q).unwrap()
}

fn names(r: &SearchResults) -> Vec<&str> {
    r.hits.iter().map(|h| h.name.as_str()).collect()
}

fn text(index: &SearchIndex, text: &str) -> Vec<String> {
    let r = find(index, SearchQuery::text(text));
    names(&r).into_iter().map(str::to_string).collect()
}

#[test]
fn ranking_exact_then_prefix_then_name_then_tag_then_path() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let catalog = [
        It { path: Some("ubuntu/docs/readme.txt"), ..it("readme.txt") },
        It { tags: &["ubuntu", "notes"], ..it("notes.txt") },
        it("Server for Ubuntu.iso"),
        it("Ubuntu Server.iso"),
        it("other.txt"),
        it("Ubuntu.iso"),
    ];
    index.index_share(&meta(1), &manifest(sid(1), 1, &catalog)).unwrap();
    let mut titled = meta(2);
    titled.title = Some("Ubuntu mirror".into());
    index.index_share(&titled, &manifest(sid(2), 1, &[it("kernel.txt")])).unwrap();

    let r = find(&index, SearchQuery::text("ubuntu"));
    assert_eq!(
        names(&r),
        ["Ubuntu.iso", "Ubuntu Server.iso", "Server for Ubuntu.iso", "notes.txt", "kernel.txt", "readme.txt"]
    );
    assert_eq!(r.total, 6);
    let scores: Vec<f32> = r.hits.iter().map(|h| h.score).collect();
    assert_eq!(scores, [11_100.0, 1_100.0, 100.0, 30.0, 10.0, 10.0]);
    assert_eq!(r.hits[0].marked("[", "]"), "[Ubuntu].iso");
    assert_eq!(r.hits[0].share_id, sid(1));
    assert_eq!(r.hits[0].content_id, cid("Ubuntu.iso"));
    assert_eq!(r.hits[3].tags, ["ubuntu", "notes"]);
    assert_eq!(r.hits[5].path.as_deref(), Some("ubuntu/docs/readme.txt"));

    // Titles and descriptions match whole words only, not a prefix being typed.
    assert!(!text(&index, "ubun").contains(&"kernel.txt".to_string()));
    assert_eq!(text(&index, "ubun").len(), 5);

    // The exact tier also applies with the extension, and to multi-word names.
    assert_eq!(text(&index, "ubuntu server")[0], "Ubuntu Server.iso");
    assert_eq!(text(&index, "ubuntu server iso")[0], "Ubuntu Server.iso");
}

#[test]
fn share_weight_multiplies_scores() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    index.index_share(&meta(1), &manifest(sid(1), 1, &[it("Jazz Live.flac")])).unwrap();
    let mut heavy = meta(2);
    heavy.weight = 50.0;
    index.index_share(&heavy, &manifest(sid(2), 1, &[It { tags: &["jazz"], ..it("track01.flac") }])).unwrap();
    assert_eq!(text(&index, "jazz"), ["track01.flac", "Jazz Live.flac"]);
    let r = find(&index, SearchQuery::text("jazz"));
    assert_eq!(r.hits[0].score, 1500.0);

    // Weights change without re-indexing, and take effect at once.
    assert!(index.set_share_options(&sid(2), Trust::Normal, 0.5).unwrap());
    assert_eq!(text(&index, "jazz"), ["Jazz Live.flac", "track01.flac"]);
    assert!(!index.set_share_options(&sid(9), Trust::Normal, 1.0).unwrap());
    assert!(matches!(index.set_share_options(&sid(2), Trust::Normal, f32::NAN), Err(StoreError::Invalid(_))));
    assert!(matches!(index.set_share_options(&sid(2), Trust::Normal, 1001.0), Err(StoreError::Invalid(_))));
}

#[test]
fn names_starting_with_the_query_do_not_hide_heavier_shares() {
    // Enough matches (over 4096) for names starting with the query to be ranked first.
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let files: Vec<String> = (0..5000).map(|i| format!("jazz {i:04}.flac")).collect();
    let items: Vec<It<'_>> = files.iter().map(|n| it(n)).collect();
    index.index_share(&meta(1), &manifest(sid(1), 1, &items)).unwrap();
    let heavy = ShareMeta { weight: 100.0, ..meta(2) };
    index.index_share(&heavy, &manifest(sid(2), 1, &[It { tags: &["jazz"], ..it("x.flac") }])).unwrap();
    index.index_share(&meta(3), &manifest(sid(3), 1, &[It { tags: &["jazz"], ..it("y.flac") }])).unwrap();
    for text in ["jazz", "ja", "jazz "] {
        let r = find(&index, SearchQuery { limit: 10, ..SearchQuery::text(text) });
        assert_eq!(r.total, 5002, "{text:?}");
        assert_eq!(r.hits[0].name, "x.flac", "{text:?}: a tag match × 100 beats names starting with it");
        assert_eq!(names(&r)[1..], names_of(&files[..9]));
    }
    // Without the heavy share, the page comes from names starting with the query alone, and
    // the rest are still counted.
    index.remove_share(&sid(2)).unwrap();
    let r = find(&index, SearchQuery { limit: 10, ..SearchQuery::text("jaz") });
    assert_eq!((r.total, names(&r)), (5001, names_of(&files[..10])));
    let next = find(&index, SearchQuery { limit: 10, cursor: r.next_cursor, ..SearchQuery::text("jaz") });
    assert_eq!((next.total, names(&next)), (5001, names_of(&files[10..20])));
    let tail = find(&index, SearchQuery { limit: 1, ..SearchQuery::text("jazz flac") });
    assert_eq!(tail.total, 5001);
}

fn names_of(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn words_are_anded_across_fields() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let catalog = [
        it("Ubuntu Server ISO"),
        it("Ubuntu notes.txt"),
        it("Debian.iso"),
        It { path: Some("ubuntu/releases/Server.iso"), ..it("Server.iso") },
    ];
    index.index_share(&meta(1), &manifest(sid(1), 1, &catalog)).unwrap();
    let mut got = text(&index, "ubuntu iso");
    assert_eq!(got.remove(0), "Ubuntu Server ISO");
    assert_eq!(got, ["Server.iso"]);
    assert!(text(&index, "ubuntu iso debian").is_empty());
    assert_eq!(find(&index, SearchQuery::text("debian iso")).total, 1);
}

#[test]
fn last_word_is_a_prefix_while_typing() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let catalog = [it("Ubuntu Server.iso"), it("Ubiquity.deb"), it("Kubuntu.iso")];
    index.index_share(&meta(1), &manifest(sid(1), 1, &catalog)).unwrap();
    assert_eq!(text(&index, "ubu"), ["Ubuntu Server.iso"]);
    assert_eq!(text(&index, "ub"), ["Ubiquity.deb", "Ubuntu Server.iso"]);
    assert_eq!(text(&index, "server ubu"), ["Ubuntu Server.iso"]);
    assert!(text(&index, "ubu ").is_empty(), "a trailing space ends the word");
    assert!(text(&index, "ubu server").is_empty(), "only the last word is a prefix");
    let r = find(&index, SearchQuery::text("ubu"));
    assert_eq!(r.hits[0].marked("<", ">"), "<Ubu>ntu Server.iso");
    // A name starting with the typed prefix ranks above one that only contains it.
    index.index_share(&meta(2), &manifest(sid(2), 1, &[it("Old Ubuntu.iso")])).unwrap();
    assert_eq!(text(&index, "ubu"), ["Ubuntu Server.iso", "Old Ubuntu.iso"]);
}

#[test]
fn quoted_phrases_match_in_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let catalog = [
        it("The Big Lebowski.mkv"),
        it("Lebowski is big.mkv"),
        It { path: Some("films/big lebowski/extras.mkv"), ..it("extras.mkv") },
    ];
    index.index_share(&meta(1), &manifest(sid(1), 1, &catalog)).unwrap();
    assert_eq!(text(&index, "\"big lebowski\""), ["The Big Lebowski.mkv", "extras.mkv"]);
    assert_eq!(text(&index, "big lebowski").len(), 3);
    assert_eq!(text(&index, "\"big leb"), ["The Big Lebowski.mkv", "extras.mkv"], "an open quote is typed");
    assert_eq!(text(&index, "\"big leb\""), Vec::<String>::new(), "a closed phrase is exact");
    assert_eq!(text(&index, "mkv \"the big\""), ["The Big Lebowski.mkv"]);
    assert_eq!(text(&index, "\"lebowski\" extras"), ["extras.mkv"]);
}

#[test]
fn case_diacritics_and_separators_fold() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let catalog = [
        it("Résumé.pdf"),
        it("café menu.txt"),
        it("summer_vacation-2023.final.jpg"),
        it("MyPowerPoint.pptx"),
        it("ＦＵＬＬＷＩＤＴＨ.txt"),
    ];
    index.index_share(&meta(1), &manifest(sid(1), 1, &catalog)).unwrap();
    assert_eq!(text(&index, "resume"), ["Résumé.pdf"]);
    assert_eq!(text(&index, "RÉSUMÉ"), ["Résumé.pdf"]);
    assert_eq!(text(&index, "CAFE"), ["café menu.txt"]);
    assert_eq!(text(&index, "vacation 2023"), ["summer_vacation-2023.final.jpg"]);
    assert_eq!(text(&index, "final jpg"), ["summer_vacation-2023.final.jpg"]);
    assert_eq!(text(&index, "point"), ["MyPowerPoint.pptx"]);
    assert_eq!(text(&index, "mypowerpoint"), ["MyPowerPoint.pptx"]);
    assert_eq!(text(&index, "fullwidth"), ["ＦＵＬＬＷＩＤＴＨ.txt"]);
    let r = find(&index, SearchQuery::text("resume"));
    assert_eq!(r.hits[0].score, 11_100.0, "exact name, normalized, without extension");
    assert_eq!(r.hits[0].marked("[", "]"), "[Résumé].pdf");
}

#[test]
fn trust_tiers_filter_and_own_shares_count_as_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let share = |n: u8, trust: Trust, own: bool| {
        let m = ShareMeta { trust, own, ..meta(n) };
        let name = format!("song {n}.mp3");
        index.index_share(&m, &manifest(sid(n), 1, &[it(&name)])).unwrap();
    };
    share(1, Trust::Trusted, false);
    share(2, Trust::Normal, false);
    share(3, Trust::Untrusted, false);
    share(4, Trust::Untrusted, true);
    let with = |trust: Vec<Trust>| {
        let r = find(&index, SearchQuery { trust, ..SearchQuery::text("song") });
        let mut n: Vec<String> = names(&r).into_iter().map(str::to_string).collect();
        n.sort();
        n
    };
    assert_eq!(with(vec![]), ["song 1.mp3", "song 2.mp3", "song 4.mp3"]);
    assert_eq!(with(vec![Trust::Untrusted]), ["song 3.mp3"]);
    assert_eq!(with(vec![Trust::Trusted]), ["song 1.mp3", "song 4.mp3"]);
    assert_eq!(with(vec![Trust::Trusted, Trust::Normal, Trust::Untrusted]).len(), 4);
    let docs = index.doc_count();
    assert!(index.set_share_options(&sid(3), Trust::Normal, 1.0).unwrap());
    assert_eq!(with(vec![]).len(), 4);
    assert_eq!(index.doc_count(), docs);
}

#[test]
fn share_filter() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    for n in 1..=3 {
        index.index_share(&meta(n), &manifest(sid(n), 1, &[it("report.pdf")])).unwrap();
    }
    let only = |shares: Vec<ShareId>| find(&index, SearchQuery { shares: Some(shares), ..SearchQuery::text("report") });
    let r = only(vec![sid(2)]);
    assert_eq!(r.total, 1);
    assert_eq!(r.hits[0].share_id, sid(2));
    assert_eq!(only(vec![sid(1), sid(3)]).total, 2);
    assert_eq!(only(vec![]).total, 0);
    assert_eq!(only(vec![sid(9)]).total, 0);
    // Listing a share: empty text.
    let r = find(&index, SearchQuery { shares: Some(vec![sid(3)]), ..SearchQuery::default() });
    assert_eq!((r.total, r.hits[0].share_id), (1, sid(3)));
}

#[test]
fn mime_class_and_size_filters() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let catalog = [
        It { mime: Some("video/mp4"), size: 700, ..it("holiday clip.mp4") },
        It { size: 5_000, ..it("holiday film.mkv") },
        It { mime: Some("audio/mpeg"), size: 300, ..it("holiday song.mp3") },
        It { mime: Some("image/jpeg"), size: 100, ..it("holiday photo.jpg") },
        It { size: 50, ..it("holiday notes") },
    ];
    index.index_share(&meta(1), &manifest(sid(1), 1, &catalog)).unwrap();
    let q = |class: Option<&str>, min: Option<u64>, max: Option<u64>| {
        let r = find(
            &index,
            SearchQuery {
                mime_class: class.map(str::to_string),
                min_size: min,
                max_size: max,
                ..SearchQuery::text("holiday")
            },
        );
        let mut n: Vec<String> = names(&r).into_iter().map(str::to_string).collect();
        n.sort();
        n
    };
    assert_eq!(q(Some("video"), None, None), ["holiday clip.mp4", "holiday film.mkv"]);
    assert_eq!(q(Some("VIDEO/*"), None, None).len(), 2);
    assert_eq!(q(Some("audio"), None, None), ["holiday song.mp3"]);
    assert!(q(Some("nonsense"), None, None).is_empty());
    assert_eq!(q(Some(" "), None, None).len(), 5, "a blank class is no filter");
    assert_eq!(q(None, Some(300), Some(700)), ["holiday clip.mp4", "holiday song.mp3"]);
    assert_eq!(q(None, Some(1000), None), ["holiday film.mkv"]);
    assert_eq!(q(None, None, Some(50)), ["holiday notes"]);
    assert!(q(None, Some(10), Some(1)).is_empty());
    assert_eq!(q(Some("video"), None, Some(1000)), ["holiday clip.mp4"]);
    let all_video = find(&index, SearchQuery { mime_class: Some("video".into()), ..SearchQuery::default() });
    assert_eq!(all_video.total, 2, "empty text with a filter lists everything it lets through");
}

#[test]
fn blocklists_hide_shares_and_contents() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let bad = It { content: Some("bad bytes"), ..it("free movie.mkv") };
    index.index_share(&meta(1), &manifest(sid(1), 1, &[it("movie night.txt"), bad])).unwrap();
    let bad_copy = It { content: Some("bad bytes"), ..it("another movie.mkv") };
    index.index_share(&meta(2), &manifest(sid(2), 1, &[bad_copy, it("movie list.txt")])).unwrap();
    index.index_share(&meta(3), &manifest(sid(3), 1, &[it("spam movie.txt")])).unwrap();
    assert_eq!(find(&index, SearchQuery::text("movie")).total, 5);

    index.set_blocklist(&[
        BlocklistRules { blocked_share_ids: vec![sid(3)], blocked_content_ids: vec![] },
        BlocklistRules { blocked_share_ids: vec![], blocked_content_ids: vec![cid("bad bytes")] },
    ]);
    let r = find(&index, SearchQuery::text("movie"));
    let mut n = names(&r);
    n.sort();
    assert_eq!(n, ["movie list.txt", "movie night.txt"]);
    assert_eq!(r.total, 2);
    assert!(r.hits.iter().all(|h| h.share_id != sid(3) && h.content_id != cid("bad bytes")));
    let r = find(&index, SearchQuery { shares: Some(vec![sid(3)]), ..SearchQuery::default() });
    assert_eq!(r.total, 0, "a blocked share stays hidden when asked for by id");

    index.set_blocklist(&[]);
    assert_eq!(find(&index, SearchQuery::text("movie")).total, 5);
}

#[test]
fn pages_concatenate_to_the_full_ordered_result() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    // Many ties: the same names in several shares, same tiers, different weights.
    let names_a: Vec<String> = (0..40).map(|i| format!("track {:02} live.ogg", i % 13)).collect();
    for n in 1..=4u8 {
        let items: Vec<It<'_>> = names_a.iter().enumerate().map(|(i, s)| It { size: i as u64, ..it(s) }).collect();
        let m = ShareMeta { weight: if n == 4 { 2.0 } else { 1.0 }, ..meta(n) };
        index.index_share(&m, &manifest(sid(n), 1, &items)).unwrap();
    }
    index.index_share(&meta(5), &manifest(sid(5), 1, &[it("Track.ogg"), it("live.ogg")])).unwrap();

    for text in ["track", "live", "", "ogg tr"] {
        let all = find(&index, SearchQuery { limit: 1000, ..SearchQuery::text(text) });
        assert!(all.next_cursor.is_none());
        assert_eq!(all.total, all.hits.len());
        assert!(all.total > 100, "{text}: {}", all.total);
        for page_size in [1, 7, 50] {
            let mut got = Vec::new();
            let mut cursor = None;
            let mut pages = 0;
            loop {
                let r =
                    find(&index, SearchQuery { limit: page_size, cursor: cursor.take(), ..SearchQuery::text(text) });
                assert_eq!(r.total, all.total);
                assert!(r.hits.len() <= page_size);
                got.extend(r.hits);
                pages += 1;
                match r.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(pages, all.total.div_ceil(page_size));
            assert_eq!(got, all.hits, "query {text:?}, pages of {page_size}");
        }
        let scores: Vec<f32> = all.hits.iter().map(|h| h.score).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]));
    }
    let counted = find(&index, SearchQuery { limit: 0, ..SearchQuery::text("track") });
    assert!(counted.hits.is_empty() && counted.next_cursor.is_none() && counted.total > 0);
}

#[test]
fn page_size_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let files: Vec<String> = (0..1001).map(|i| format!("file {i:04}.bin")).collect();
    let items: Vec<It<'_>> = files.iter().map(|n| it(n)).collect();
    index.index_share(&meta(1), &manifest(sid(1), 1, &items)).unwrap();
    let capped = find(&index, SearchQuery { limit: 5000, ..SearchQuery::text("file") });
    assert_eq!((capped.total, capped.hits.len()), (1001, 1000));
    let rest = find(&index, SearchQuery { limit: 5000, cursor: capped.next_cursor, ..SearchQuery::text("file") });
    assert_eq!(names(&rest), ["file 1000.bin"]);
    assert!(rest.next_cursor.is_none());
}

#[test]
fn cursors_survive_index_changes_and_garbage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let items: Vec<String> = (0..30).map(|i| format!("photo {i:02}.jpg")).collect();
    let its: Vec<It<'_>> = items.iter().map(|s| it(s)).collect();
    index.index_share(&meta(1), &manifest(sid(1), 1, &its)).unwrap();
    let first = find(&index, SearchQuery { limit: 10, ..SearchQuery::text("photo") });
    let cursor = first.next_cursor.clone().unwrap();

    index.index_share(&meta(1), &manifest(sid(1), 2, &its[..15])).unwrap();
    let next = find(&index, SearchQuery { limit: 10, cursor: Some(cursor.clone()), ..SearchQuery::text("photo") });
    assert_eq!(names(&next), items[10..15].iter().map(String::as_str).collect::<Vec<_>>());
    assert!(index.remove_share(&sid(1)).unwrap());
    let gone = find(&index, SearchQuery { cursor: Some(cursor), ..SearchQuery::text("photo") });
    assert_eq!(gone, SearchResults::default());

    for bad in ["nope", "t1.", "t1.zzzzzzzz", "t1.ffffffffffffffffffffffffffffffffffffffffffffffffffffffff"] {
        let e = index.search(&SearchQuery { cursor: Some(bad.into()), ..SearchQuery::text("photo") }).unwrap_err();
        assert!(matches!(e, StoreError::Invalid(ref m) if m.contains("search cursor")), "{bad}: {e}");
    }
    assert!(index.search(&SearchQuery { cursor: Some("  ".into()), ..SearchQuery::default() }).is_ok());
}

#[test]
fn reindex_replaces_and_remove_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    index.index_share(&meta(1), &manifest(sid(1), 1, &[it("alpha.txt"), it("beta.txt")])).unwrap();
    index.index_share(&meta(2), &manifest(sid(2), 1, &[it("alpha two.txt")])).unwrap();
    assert_eq!(index.doc_count(), 3);
    index.index_share(&meta(1), &manifest(sid(1), 2, &[it("gamma.txt")])).unwrap();
    assert_eq!(index.doc_count(), 2);
    assert_eq!(text(&index, "alpha"), ["alpha two.txt"]);
    assert_eq!(text(&index, "gamma"), ["gamma.txt"]);
    assert!(text(&index, "beta").is_empty());
    let shares = index.shares();
    let one = shares.iter().find(|s| s.meta.share_id == sid(1)).unwrap();
    assert_eq!((one.seq, one.items), (2, 1));

    assert!(index.remove_share(&sid(2)).unwrap());
    assert!(!index.remove_share(&sid(2)).unwrap());
    assert!(text(&index, "alpha").is_empty());
    assert_eq!(index.doc_count(), 1);
    assert_eq!(index.shares().len(), 1);

    // A re-indexed share keeps working after its number is reused by another.
    index.index_share(&meta(3), &manifest(sid(3), 1, &[it("delta.txt")])).unwrap();
    assert_eq!(text(&index, "delta"), ["delta.txt"]);
    assert_eq!(find(&index, SearchQuery::text("delta")).hits[0].share_id, sid(3));

    let wrong = index.index_share(&meta(4), &manifest(sid(5), 1, &[it("x")]));
    assert!(matches!(wrong, Err(StoreError::Invalid(_))));
    let nan = ShareMeta { weight: f32::INFINITY, ..meta(4) };
    assert!(matches!(index.index_share(&nan, &manifest(sid(4), 1, &[it("x")])), Err(StoreError::Invalid(_))));
    assert_eq!(index.doc_count(), 2, "failed calls change nothing");
}

fn sample() -> Vec<(ShareMeta, Manifest)> {
    let a = [it("Ubuntu.iso"), It { tags: &["linux"], ..it("notes.txt") }, it("Debian netinst.iso")];
    let b = [it("Ubuntu Desktop.iso"), It { path: Some("linux/readme.md"), ..it("readme.md") }];
    let trusted = ShareMeta { trust: Trust::Trusted, title: Some("Linux images".into()), ..meta(1) };
    vec![(trusted, manifest(sid(1), 3, &a)), (ShareMeta { weight: 3.0, ..meta(2) }, manifest(sid(2), 1, &b))]
}

fn snapshot(index: &SearchIndex) -> Vec<SearchResults> {
    ["ubuntu", "linux", "iso", "", "u"].iter().map(|t| find(index, SearchQuery::text(*t))).collect()
}

#[test]
fn reopen_keeps_everything_and_rebuild_after_deletion_gives_the_same_results() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let (index, state) = SearchIndex::open(&dir).unwrap();
    assert_eq!(state, OpenState::Created);
    assert!(state.needs_rebuild());
    for (m, man) in sample() {
        index.index_share(&m, &man).unwrap();
    }
    index.set_share_options(&sid(2), Trust::Normal, 0.25).unwrap();
    let before = snapshot(&index);
    assert_eq!(before[0].total, 2);
    drop(index);

    let (index, state) = SearchIndex::open(&dir).unwrap();
    assert_eq!(state, OpenState::Opened);
    assert_eq!(snapshot(&index), before, "options and documents survive a reopen");
    drop(index);

    std::fs::remove_dir_all(&dir).unwrap();
    let (index, state) = SearchIndex::open(&dir).unwrap();
    assert_eq!(state, OpenState::Created);
    assert_eq!(index.doc_count(), 0);
    let mut shares = sample();
    shares[1].0.weight = 0.25;
    assert_eq!(index.rebuild(shares).unwrap(), 5);
    assert_eq!(snapshot(&index), before);

    // Rebuilding replaces everything, in one commit.
    assert_eq!(index.rebuild(vec![(meta(7), manifest(sid(7), 1, &[it("solo.txt")]))]).unwrap(), 1);
    assert!(text(&index, "ubuntu").is_empty());
    assert_eq!(index.shares().len(), 1);
    // A failing rebuild leaves the index as it was.
    let bad = vec![(meta(8), manifest(sid(8), 1, &[it("a")])), (meta(9), manifest(sid(1), 1, &[it("b")]))];
    assert!(index.rebuild(bad).is_err());
    assert_eq!(text(&index, "solo"), ["solo.txt"]);
}

fn assert_recovers(dir: &Path, damage: impl FnOnce(&Path)) {
    {
        let (index, _) = SearchIndex::open(dir).unwrap();
        for (m, man) in sample() {
            index.index_share(&m, &man).unwrap();
        }
    }
    damage(dir);
    let (index, state) = SearchIndex::open(dir).unwrap();
    let OpenState::Recreated { reason, moved_to } = &state else { panic!("expected recovery, got {state:?}") };
    assert!(!reason.is_empty());
    assert!(moved_to.is_dir(), "the damaged index is kept aside at {}", moved_to.display());
    assert!(state.needs_rebuild());
    assert_eq!(index.doc_count(), 0);
    assert!(index.search(&SearchQuery::text("ubuntu")).unwrap().hits.is_empty());
    index.rebuild(sample()).unwrap();
    assert_eq!(text(&index, "ubuntu").len(), 2);
    drop(index);
    let (_, state) = SearchIndex::open(dir).unwrap();
    assert_eq!(state, OpenState::Opened);
}

#[test]
fn damaged_index_directories_are_recovered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");

    // Garbage meta.json.
    assert_recovers(&dir, |d| std::fs::write(d.join("meta.json"), b"\x00\xffnot json").unwrap());
    // Segment files with a flipped byte (caught by their checksums).
    assert_recovers(&dir, |d| {
        let mut flipped = 0;
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|e| e == "term" || e == "store") {
                let mut bytes = std::fs::read(&p).unwrap();
                let mid = bytes.len() / 2;
                bytes[mid] ^= 0xff;
                std::fs::write(&p, bytes).unwrap();
                flipped += 1;
            }
        }
        assert!(flipped > 0);
    });
    // A missing segment file.
    assert_recovers(&dir, |d| {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|e| e == "term") {
                std::fs::remove_file(p).unwrap();
            }
        }
    });
    // Valid JSON that is not an index, and a share table that does not decode.
    assert_recovers(&dir, |d| std::fs::write(d.join("meta.json"), b"{\"segments\": 7}").unwrap());
    assert_recovers(&dir, |d| {
        let meta = std::fs::read_to_string(d.join("meta.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&meta).unwrap();
        let mut v = v.as_object().unwrap().clone();
        v.insert("payload".into(), serde_json::Value::String("{broken".into()));
        std::fs::write(d.join("meta.json"), serde_json::to_string(&v).unwrap()).unwrap();
    });

    // Only garbage files, no index at all.
    let junk = tmp.path().join("junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("a.bin"), vec![7u8; 4096]).unwrap();
    std::fs::write(junk.join("meta.json.tmp"), b"x").unwrap();
    let (index, state) = SearchIndex::open(&junk).unwrap();
    assert!(matches!(state, OpenState::Recreated { .. }), "{state:?}");
    assert!(junk.with_file_name("junk.corrupt").join("a.bin").exists());
    index.index_share(&meta(1), &manifest(sid(1), 1, &[it("fine.txt")])).unwrap();
    assert_eq!(text(&index, "fine"), ["fine.txt"]);
}

#[test]
fn an_index_in_use_is_reported_not_destroyed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let (index, _) = SearchIndex::open(&dir).unwrap();
    index.index_share(&meta(1), &manifest(sid(1), 1, &[it("kept.txt")])).unwrap();
    let second = SearchIndex::open(&dir);
    assert!(matches!(second, Err(StoreError::Locked(_))), "{second:?}");
    assert_eq!(text(&index, "kept"), ["kept.txt"]);
    // Closed (a node shutting down while tasks still hold it): the lock is free at once,
    // searching still works and writes are refused.
    index.close();
    let (reopened, _) = SearchIndex::open(&dir).unwrap();
    assert_eq!(text(&reopened, "kept"), ["kept.txt"]);
    assert_eq!(text(&index, "kept"), ["kept.txt"]);
    let late = index.index_share(&meta(2), &manifest(sid(2), 1, &[it("late.txt")]));
    assert!(matches!(late, Err(StoreError::Invalid(ref m)) if m.contains("closed")), "{late:?}");
}

#[test]
fn hostile_queries_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    for (m, man) in sample() {
        index.index_share(&m, &man).unwrap();
    }
    let long = "ubuntu ".repeat(2000);
    let hostile = [
        "",
        "\"",
        "\"\"\"",
        "\"ubuntu",
        "ubuntu\"",
        "((( ))) ---",
        "*?~^:!",
        "^ubuntu",
        "\0\0\0",
        "\u{202e}\u{200b}\u{fffd}",
        "é́́́́́́́́́́",
        "ﷺ ﬀ ㍿ ℌ",
        &long,
        &"x".repeat(10_000),
        &"\"a ".repeat(3000),
        &"é".repeat(5000),
    ];
    for q in hostile {
        let r = index.search(&SearchQuery::text(q));
        assert!(r.is_ok(), "{:?}: {r:?}", q.chars().take(20).collect::<String>());
    }
    assert_eq!(find(&index, SearchQuery::text(&long)).total, 2);
    assert_eq!(find(&index, SearchQuery::text("\"ubuntu")).total, 2);
    assert_eq!(find(&index, SearchQuery::text("---")).total, 5, "only punctuation lists everything");
}

#[test]
fn arbitrary_strings_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let items = [it("Ubuntu.iso"), it("Résumé.pdf"), it("a\"b\"c.txt"), it("zé zé zé.mp3"), it("^weird^.txt")];
    index.index_share(&meta(1), &manifest(sid(1), 1, &items)).unwrap();
    let strategy = (
        any::<String>(),
        "[\"a-zé ]{0,40}",
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
        0usize..3000,
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 300, ..ProptestConfig::default() });
    let outcome = runner.run(&strategy, |(text, quoted, class, cursor, limit)| {
        for t in [&text, &quoted] {
            let r = index.search(&SearchQuery { limit, ..SearchQuery::text(t.as_str()) });
            prop_assert!(r.is_ok(), "{t:?}: {r:?}");
            let r = r.unwrap();
            prop_assert!(r.hits.len() <= limit.min(1000));
            for h in &r.hits {
                for range in &h.highlight {
                    prop_assert!(h.name.get(range.clone()).is_some());
                }
            }
        }
        let q = SearchQuery { mime_class: class, cursor: cursor.clone(), ..SearchQuery::text(text.as_str()) };
        match index.search(&q) {
            Ok(_) => {}
            Err(StoreError::Invalid(m)) => prop_assert!(cursor.is_some() && m.contains("search cursor")),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
        Ok(())
    });
    outcome.unwrap();
}
