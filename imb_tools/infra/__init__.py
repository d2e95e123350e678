"""Infrastructure every area uses: errors, atomic writes, hashing, ownership markers,
tables, path locating and the raw-format readers. Imports nothing above it."""
