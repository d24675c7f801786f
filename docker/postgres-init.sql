-- The store lives beside Airflow's metadata on the same server, in its own database.
CREATE DATABASE concord OWNER concord;
