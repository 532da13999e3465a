-- Every reading handled, once per idempotency key: the handler's own
-- guard against a second delivery (handlers run at least once).
CREATE TABLE readings (
    idempotency_key text             PRIMARY KEY,
    sensor          text             NOT NULL,
    value           double precision NOT NULL,
    ts              timestamptz      NOT NULL
);

-- What the worker keeps per sensor.
CREATE TABLE sensor_stats (
    sensor     text             PRIMARY KEY,
    readings   bigint           NOT NULL,
    max_value  double precision NOT NULL,
    alerts     bigint           NOT NULL DEFAULT 0,
    updated_at timestamptz      NOT NULL DEFAULT now()
);
