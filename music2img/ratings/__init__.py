"""People's judgement: a blind Affect-Grid rating of painted pictures and "does the picture fit the
music?", stored in SQLite (:mod:`.store`), painted ahead (:mod:`.pool`), asked in the page
(:mod:`.page`) and summed up by ``music2img ratings report`` (:mod:`.report`)."""
