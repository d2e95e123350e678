"""Analysis of built datasets: statistics (Tables 4-5), difficulty, topic categorization."""
