-- Dictionaries that alert documents are compressed with. A zstd frame names its
-- dictionary's id, so documents compressed before a dictionary existed (or with an older
-- one) stay readable.
CREATE TABLE doc_dicts (
    id      INTEGER PRIMARY KEY,  -- the zstd dictionary id
    dict    BLOB NOT NULL,
    created INTEGER NOT NULL
);
