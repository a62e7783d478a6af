//! End-to-end tests: the real application on port 0, a real PostgreSQL
//! (one cluster per test run, one database per test), real AWS clients.

mod audit;
mod clients;
mod console;
mod developer;
mod federation;
mod fidelity;
mod helpers;
mod hostile;
mod identities;
mod limits;
mod operational;
mod pools;
mod protocol;
mod quotas;
mod roles;
mod saml;
mod signing;
mod steps;
mod tags;
mod tokens;
