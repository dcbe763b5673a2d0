-- Title metadata, seeded with the walk-through's titles.
CREATE TABLE titles (
  title_id text PRIMARY KEY,
  name text NOT NULL,
  year int NOT NULL,
  kind text NOT NULL CHECK (kind IN ('movie', 'series')),
  genres text[] NOT NULL,
  maturity_rating text NOT NULL,
  duration_seconds int NOT NULL CHECK (duration_seconds >= 0)
);

INSERT INTO titles VALUES
  ('tt0133093', 'The Matrix', 1999, 'movie', '{sci-fi,action}', 'R', 8160),
  ('tt0816692', 'Interstellar', 2014, 'movie', '{sci-fi,drama}', 'PG-13', 10140),
  ('tt4574334', 'Stranger Things', 2016, 'series', '{sci-fi,horror,drama}', 'TV-14', 3060),
  ('tt0903747', 'Breaking Bad', 2008, 'series', '{crime,drama}', 'TV-MA', 2820),
  ('tt2861424', 'Rick and Morty', 2013, 'series', '{animation,comedy,sci-fi}', 'TV-14', 1320),
  ('tt1375666', 'Inception', 2010, 'movie', '{sci-fi,action}', 'PG-13', 8880);
