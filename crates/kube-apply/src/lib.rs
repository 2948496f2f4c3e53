//! ServiceEntry as a Kubernetes custom resource (kube CustomResource); later the server-side apply sink
