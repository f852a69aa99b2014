"""The shared fixtures of reusegw_test.fixtures, for every suite under test/."""
pytest_plugins = ["reusegw_test.fixtures"]
