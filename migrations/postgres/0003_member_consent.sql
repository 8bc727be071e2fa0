-- How each member agreed to be mailed: "confirmed by mail or link",
-- "imported: <reason>", "added by an editor", ... Empty for members from
-- before it was recorded. The time is confirmed_at.
ALTER TABLE members ADD COLUMN consent TEXT NOT NULL DEFAULT '';
