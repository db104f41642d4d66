"""Readers of other systems' exports: each turns a file into a stream of neutral records
(``records.Thread``, ``records.Post``) without touching the database; the import service
(``voxpop.services.importing``) writes them. Pure: no voxpop layer above ``model`` here."""
