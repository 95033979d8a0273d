# A build/development machine for kernels: NixOS with the Nix store on its
# own data volume, sandboxed builds, binary caches configured, direnv +
# nix-direnv for `use flake`, and a `builder` user reached over SSH.
#
# First boot: bootstrap.sh (user data) moves /nix onto the data volume, then
# activates nixos-configuration.nix and reboots into it.

data "aws_ami" "nixos" {
  most_recent = true
  owners      = ["427812963091"] # NixOS project
  filter {
    name   = "name"
    values = ["nixos/${var.nixos_release}*"]
  }
  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

resource "aws_key_pair" "builder" {
  key_name   = "${var.name}-key"
  public_key = var.ssh_public_key
}

resource "aws_security_group" "builder" {
  name        = "${var.name}-ssh"
  description = "SSH to the kernel build machine"

  ingress {
    description = "SSH"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = var.allowed_ssh_cidrs
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

locals {
  # Read by nixos-configuration.nix (/etc/nixos/kernel-builder.json).
  settings_json = jsonencode({
    ssh_public_key = var.ssh_public_key
    max_jobs       = var.max_jobs
    substituters   = var.substituters
  })
}

resource "aws_instance" "builder" {
  ami                    = data.aws_ami.nixos.id
  instance_type          = var.instance_type
  key_name               = aws_key_pair.builder.key_name
  vpc_security_group_ids = [aws_security_group.builder.id]
  subnet_id              = var.subnet_id

  root_block_device {
    volume_size = var.root_volume_gib
    volume_type = "gp3"
    encrypted   = true
  }

  user_data = templatefile("${path.module}/bootstrap.sh", {
    nixos_configuration = file("${path.module}/nixos-configuration.nix")
    settings_json       = local.settings_json
  })

  metadata_options {
    http_tokens = "required"
  }

  tags = {
    Name = var.name
  }
}

resource "aws_ebs_volume" "nix" {
  availability_zone = aws_instance.builder.availability_zone
  size              = var.nix_volume_gib
  type              = "gp3"
  iops              = var.nix_volume_iops
  encrypted         = true
  tags = {
    Name = "${var.name}-nix-store"
  }
}

resource "aws_volume_attachment" "nix" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.nix.id
  instance_id = aws_instance.builder.id
}
