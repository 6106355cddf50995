"""Server-rendered pages of the annotator web app. The pages' JavaScript writes through the REST API."""
