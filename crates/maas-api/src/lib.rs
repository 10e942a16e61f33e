//! A MAAS 2.0 REST API client: OAuth1 PLAINTEXT, typed models, classified errors and retries.
