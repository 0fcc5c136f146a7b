-- Every sign-in clears the ended sessions of all accounts (past their 12 hours, or left unused
-- longer than UNKNOT_SESSION_IDLE_MINUTES): one DELETE that finds them by these two indexes
-- instead of reading the whole table.
CREATE INDEX therapist_session_expires ON therapist_session(expires_at);
CREATE INDEX therapist_session_last_used ON therapist_session(last_used_at);
