"""Remote stores `uploader scan` reads: S3, Artifactory, Nexus.

Each store module turns the store's own listing into `StoreFile`s in key order; `listing`
makes them versions and problems with the local scan's rules (`uploader.scan`), and
`uploader.scan.write_jsonl` writes them. Nothing here uploads: the manifest's `url`
assets are for a later step of `run`.

    listing      StoreFile, and a store's listing made versions (layout, filters, names)
    sorting      a listing in any order put in key order, in bounded memory
    http         the guarded HTTP client of Artifactory and Nexus (auth, redirects, limits)
    s3           ListObjectsV2 through aioboto3; declared SHA-256s from HeadObject
    artifactory  the storage API's file lists, folder by folder
    nexus        the REST assets API, page by page
"""
