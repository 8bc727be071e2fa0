-- Answers to one question reach its asker in one notice an hour at most
-- (src/notices/answers.rs): the answers up to last_answer_id were told at
-- notified_at; due_at is set while newer ones wait for the hour to pass.
CREATE TABLE answer_notices (
    question_id     INTEGER PRIMARY KEY,
    last_answer_id  INTEGER NOT NULL,
    notified_at     INTEGER NOT NULL,
    due_at          INTEGER
);
CREATE INDEX answer_notices_due ON answer_notices (due_at);
