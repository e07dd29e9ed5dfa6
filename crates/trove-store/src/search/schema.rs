//! The index layout: one document per manifest item. Text fields are searched word by word
//! (`name`, `tags`, `path`), `name_key` holds the whole normalized name for exact matches,
//! `mime_class` the filterable type; numeric fast fields carry what ranking, filtering and
//! paging read per matching document (share number, size, sort keys). Share-level data
//! (title, description, trust, weight) is not repeated per document: it lives in the share
//! table stored with each commit (see [`super::shares`]).

use super::tokenizer;
use crate::error::{Result, StoreError};
use tantivy::IndexSettings;
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions};
use tantivy::store::Compressor;

/// The fields of the index.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    pub name: Field,
    pub name_key: Field,
    pub tags: Field,
    pub path: Field,
    pub mime: Field,
    pub mime_class: Field,
    pub content_id: Field,
    pub size: Field,
    pub share_no: Field,
    pub name_sort: Field,
    pub content64: Field,
    pub doc_key: Field,
}

/// Fast-field names read by the collector.
pub const SHARE_NO: &str = "share_no";
pub const SIZE: &str = "size";
pub const NAME_SORT: &str = "name_sort";
pub const CONTENT64: &str = "content64";
pub const DOC_KEY: &str = "doc_key";

fn text(tokenizer: &str, record: IndexRecordOption, stored: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(record).set_fieldnorms(false);
    let opts = TextOptions::default().set_indexing_options(indexing);
    if stored { opts.set_stored() } else { opts }
}

/// The schema this version of trove writes.
pub fn schema() -> Schema {
    let positions = IndexRecordOption::WithFreqsAndPositions;
    let mut b = Schema::builder();
    b.add_text_field("name", text(tokenizer::NAME, positions, true));
    b.add_text_field("name_key", text("raw", IndexRecordOption::Basic, false));
    b.add_text_field("tags", text(tokenizer::WORDS, positions, true));
    b.add_text_field("path", text(tokenizer::WORDS, positions, true));
    b.add_text_field("mime", TextOptions::default().set_stored());
    b.add_text_field("mime_class", text("raw", IndexRecordOption::Basic, false));
    b.add_bytes_field("content_id", STORED);
    b.add_u64_field(SIZE, STORED | FAST);
    b.add_u64_field(SHARE_NO, INDEXED | FAST);
    b.add_u64_field(NAME_SORT, FAST);
    b.add_u64_field(CONTENT64, FAST);
    b.add_u64_field(DOC_KEY, FAST);
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
        name_key: f("name_key")?,
        tags: f("tags")?,
        path: f("path")?,
        mime: f("mime")?,
        mime_class: f("mime_class")?,
        content_id: f("content_id")?,
        size: f(SIZE)?,
        share_no: f(SHARE_NO)?,
        name_sort: f(NAME_SORT)?,
        content64: f(CONTENT64)?,
        doc_key: f(DOC_KEY)?,
    })
}

/// Index settings: lz4 document store in small blocks, so fetching a page of hits
/// decompresses little.
pub fn settings() -> IndexSettings {
    IndexSettings { docstore_compression: Compressor::Lz4, docstore_blocksize: 4096, ..IndexSettings::default() }
}

/// Checks that an opened index has exactly this version's schema.
pub fn check(found: &Schema) -> Result<()> {
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
