"""``make demo``: the three flows, for real, on one laptop.

It builds a workspace of real parts (an ``mlflow server``, bare git remotes
for an ML code repo and a GitOps repo, raw data in a landing folder), starts
``mlops-gitops serve`` on embedded defaults, and then behaves like the outside
world: it pushes a commit and sends the signed webhook, drops data and sends
bucket notifications, and promotes a model version in MLflow. It finishes
with the event timeline the service recorded.
"""
