"""The machinery the benches share, so that each bench script says only what it loads, what it
measures and what it aims for. Nothing is imported here: `bench.ceiling_app` and the service's
workers stay free of what they do not use. See bench/README.md."""
