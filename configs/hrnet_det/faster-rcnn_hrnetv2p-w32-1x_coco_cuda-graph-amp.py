_base_ = './faster-rcnn_hrnetv2p-w32-1x_coco.py'
# GPU training: fp16 autocast with dynamic loss scaling; the backbone replays CUDA-graph recordings of
# the batch shapes that repeat (mmdet pads each batch to its largest image, so shapes vary). At most
# max_graphs shapes are recorded, each after its second use; the others run eagerly.
model = dict(backbone=dict(cuda_graph=dict(max_graphs=4, min_calls=2)))
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
