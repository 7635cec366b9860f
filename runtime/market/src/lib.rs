//! Market data sources: CSV OHLCV replay with timezone-aware timestamps and a seeded synthetic data generator.
