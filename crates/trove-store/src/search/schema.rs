//! The index layout: one document per manifest item. `any` and `any_prefixes` hold the words
//! and prefix tokens of the name, tags and folders (the path without the file name) together:
//! matching a word is one posting list. The per-field `name`, `name_prefixes`, `tags`,
//! `tag_prefixes` and `folders` rank the matches and answer phrases; `mime_class` is the
//! filterable type; numeric fast fields carry what ranking, filtering and paging read per
//! matching document (share number, size, sort keys, and hashes of the whole normalized name
//! with and without extension for exact matches). Share-level data
//! (title, description, trust, weight) is not repeated per document: it lives in the share
//! table stored with each commit (see [`super::shares`]).

use super::tokenizer;
use crate::error::{Result, StoreError};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions};
use tantivy::store::Compressor;
use tantivy::{IndexSettings, IndexSortByField, Order};

/// The fields of the index.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    pub name: Field,
    pub name_prefixes: Field,
    pub tags: Field,
    pub tag_prefixes: Field,
    pub folders: Field,
    pub any: Field,
    pub any_prefixes: Field,
    pub path: Field,
    pub mime: Field,
    pub mime_class: Field,
    pub content_id: Field,
    pub size: Field,
    pub share_no: Field,
    pub name_sort: Field,
    pub content64: Field,
    pub doc_key: Field,
    pub stem_hash: Field,
    pub name_hash: Field,
}

/// Fast-field names read by the collector.
pub const SHARE_NO: &str = "share_no";
pub const SIZE: &str = "size";
pub const NAME_SORT: &str = "name_sort";
pub const CONTENT64: &str = "content64";
pub const DOC_KEY: &str = "doc_key";
pub const STEM_HASH: &str = "stem_hash";
pub const NAME_HASH: &str = "name_hash";

fn text(tokenizer: &str, record: IndexRecordOption, stored: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(record).set_fieldnorms(false);
    let opts = TextOptions::default().set_indexing_options(indexing);
    if stored { opts.set_stored() } else { opts }
}

/// The schema this version of trove writes.
pub fn schema() -> Schema {
    let positions = IndexRecordOption::WithFreqsAndPositions;
    let docs = IndexRecordOption::Basic;
    let mut b = Schema::builder();
    b.add_text_field("name", text(tokenizer::NAME, positions, true));
    b.add_text_field("name_prefixes", text(tokenizer::NAME_PREFIXES, docs, false));
    b.add_text_field("tags", text(tokenizer::WORDS, positions, true));
    b.add_text_field("tag_prefixes", text(tokenizer::PREFIXES, docs, false));
    b.add_text_field("folders", text(tokenizer::WORDS, positions, false));
    b.add_text_field("any", text(tokenizer::WORDS, docs, false));
    b.add_text_field("any_prefixes", text(tokenizer::PREFIXES, docs, false));
    b.add_text_field("path", TextOptions::default().set_stored());
    b.add_text_field("mime", TextOptions::default().set_stored());
    b.add_text_field("mime_class", text("raw", IndexRecordOption::Basic, false));
    b.add_bytes_field("content_id", STORED);
    b.add_u64_field(SIZE, STORED | FAST);
    b.add_u64_field(SHARE_NO, INDEXED | FAST);
    b.add_u64_field(NAME_SORT, FAST);
    b.add_u64_field(CONTENT64, FAST);
    b.add_u64_field(DOC_KEY, FAST);
    b.add_u64_field(STEM_HASH, FAST);
    b.add_u64_field(NAME_HASH, FAST);
    b.build()
}

/// Looks the fields up in a schema (one built by [`schema`]).
pub fn fields(schema: &Schema) -> Result<Fields> {
    let f = |name: &str| {
        schema
            .get_field(name)
            .map_err(|e| StoreError::Corrupt(format!("search index schema has no field '{name}': {e}")))
    };
    Ok(Fields {
        name: f("name")?,
        name_prefixes: f("name_prefixes")?,
        tags: f("tags")?,
        tag_prefixes: f("tag_prefixes")?,
        folders: f("folders")?,
        any: f("any")?,
        any_prefixes: f("any_prefixes")?,
        path: f("path")?,
        mime: f("mime")?,
        mime_class: f("mime_class")?,
        content_id: f("content_id")?,
        size: f(SIZE)?,
        share_no: f(SHARE_NO)?,
        name_sort: f(NAME_SORT)?,
        content64: f(CONTENT64)?,
        doc_key: f(DOC_KEY)?,
        stem_hash: f(STEM_HASH)?,
        name_hash: f(NAME_HASH)?,
    })
}

/// Index settings: documents sorted by name (ties in ranking are broken by name, so the
/// collector reads the name column in order), and an lz4 document store in small blocks, so
/// fetching a page of hits decompresses little.
pub fn settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Lz4,
        docstore_blocksize: 1024,
        sort_by_field: Some(IndexSortByField { field: NAME_SORT.to_string(), order: Order::Asc }),
        ..IndexSettings::default()
    }
}

/// Checks that an opened index has exactly this version's schema and document order.
pub fn check(found: &Schema, found_settings: &IndexSettings) -> Result<()> {
    if found_settings.sort_by_field != settings().sort_by_field {
        return Err(StoreError::Corrupt("search index has another document order; it will be rebuilt".into()));
    }
    if *found == schema() {
        Ok(())
    } else {
        let names: Vec<&str> = found.fields().map(|(_, e)| e.name()).collect();
        Err(StoreError::Corrupt(format!(
            "search index has another schema (fields: {}); it will be rebuilt",
            names.join(", ")
        )))
    }
}
