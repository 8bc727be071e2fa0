-- Retention: old raw mail and stale throttles are deleted in small
-- batches; these indexes let each batch find its rows without a scan.
CREATE INDEX inbound_raw_id ON inbound (raw_id);
CREATE INDEX inbound_received ON inbound (received_at);
CREATE INDEX notice_throttle_sent ON notice_throttle (sent_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sign_in_links_expires ON sign_in_links (expires_at);
