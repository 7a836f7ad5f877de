-- vchord 0.1.0
\echo Use "CREATE EXTENSION vchord" to load this file. \quit
