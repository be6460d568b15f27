"""The embedded stack: real local stand-ins for Sierra, the warehouse, AWS, the Census
geocoder and the Platform schema endpoint, used by `make demo` and the tests."""
