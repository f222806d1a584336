"""The test kit the domain packages run: conformance rules, checks, fuzzing, multi-process helpers."""
