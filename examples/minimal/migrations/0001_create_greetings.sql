CREATE TABLE greetings (
    name   text PRIMARY KEY,
    visits bigint NOT NULL DEFAULT 0
);
