//! End-to-end tests: one test binary, each test on a real server on port 0 with a fresh database.

mod abuse;
mod access;
mod auth;
mod backup;
mod bad_input;
mod budgets;
mod clocks;
mod deadline;
mod demo;
mod observability;
mod pending;
mod phone_at_rest;
mod policy;
mod purge;
mod refusals;
mod report_access;
mod reports;
mod review;
mod sync;
mod tls;
mod upgrade;
mod village_link;
mod web;
mod web_login;
mod write_rules;
