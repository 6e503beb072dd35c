import os

# pandera, on import, sets PYARROW_IGNORE_TIMEZONE=1 for the whole process once pyspark
# is installed (the [spark] extra), and pyarrow then drops the zone of aware datetimes.
# An empty value keeps pyarrow's default and stops pandera and pyspark from setting it.
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "")
